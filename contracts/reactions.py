"""Reactors by name, and the contexts (topics) each one consumes.

A reactor causes effects that leave the system (mail). Its intake runs the projectors'
consumer discipline (positions per partition, per-aggregate order, parking, dead letters)
in a consumer group of its own, so its position rows and lag show beside the read models'
(``GET /projections``, ``eventshop projections status``). Names are persisted (position
rows, consumer groups, effect keys).
"""

from __future__ import annotations

REACTOR_SOURCES: dict[str, tuple[str, ...]] = {
    "mail": ("customers", "orders"),
}
