"""Read models by name, and the contexts (topics) each one is built from.

The projections subscribe to these topics; the query API waits on exactly these topics'
positions when a client sends a consistency token. Names are persisted (position rows).
"""

from __future__ import annotations

SOURCES: dict[str, tuple[str, ...]] = {
    "customers": ("customers", "orders"),
    "products": ("catalog",),
    "orders": ("orders", "customers", "catalog"),
    "sales": ("orders",),
}

POSITIONS_TABLE = "projection_positions"
#: Events waiting behind a version gap; a token is not reflected while one at or below
#: its mark is parked here.
PARKED_TABLE = "projection_parked"
