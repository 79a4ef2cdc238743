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


#: The version of each read model's table shape (``projections/<name>/tables.py``). The
#: projections write that shape and the query API reads it; a change to it is a new
#: version, installed by a blue/green rebuild (``eventshop projections rebuild``), never by
#: ALTERing live tables.
TABLE_VERSIONS: dict[str, int] = {"customers": 1, "products": 2, "orders": 2, "sales": 1}
