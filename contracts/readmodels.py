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
#: A function in the read schema that answers the event store's highest notification id
#: to the query role (SECURITY DEFINER: the role still reads no event-store table).
HEAD_FUNCTION = "event_store_head"
#: The relay's checkpoint, acknowledged offsets, heartbeat, block and backlog, likewise.
RELAY_STATE_FUNCTION = "relay_state"
#: One row per live projector instance: what it owns, and when it last said so.
INSTANCES_TABLE = "projector_instances"

#: The version of each read model's table shape (``projections/<name>/tables.py``). The
#: projections write that shape and the query API reads it; a change to it is a new
#: version, installed by a blue/green rebuild (``eventshop projections rebuild``), never by
#: ALTERing live tables.
TABLE_VERSIONS: dict[str, int] = {"customers": 1, "products": 1, "orders": 1, "sales": 1}
MODEL_VERSIONS_TABLE = "read_model_versions"
