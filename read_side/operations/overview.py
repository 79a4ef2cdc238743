"""What the ops page shows, read as the query role: projections and reactors per
partition, the relay, read models being rebuilt, and recent dead letters.

Everything comes from the read schema or its SECURITY DEFINER functions (the relay's
state), so the page needs no privilege the query API lacks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import Connection, sql
from psycopg.rows import dict_row

from contracts.bookkeeping import MODEL_VERSIONS_TABLE, PARKED_TABLE, RELAY_STATE_FUNCTION
from contracts.reactions import REACTOR_SOURCES
from contracts.readmodels import SOURCES
from contracts.rows import ProjectionPartition
from read_side.operations.projection_status import STALE_AFTER_SECONDS, projection_status


@dataclass(frozen=True)
class OpsView:
    partitions: list[ProjectionPartition]
    relay: dict[str, Any]
    models: list[dict[str, Any]]
    dead_letters: list[dict[str, Any]]

    @property
    def consumers(self) -> list[dict[str, Any]]:
        """One line per projection and reactor (``idle`` before its first event): its
        worst state and its totals."""
        names = [*SOURCES, *REACTOR_SOURCES]
        names += sorted({p.projection for p in self.partitions} - set(names))
        lines = []
        for name in names:
            mine = [p for p in self.partitions if p.projection == name]
            states = {p.state for p in mine}
            lines.append(
                {
                    "name": name,
                    "state": shown_state(
                        next((s for s in _WORST if s in states), "live" if mine else "idle"), mine
                    ),
                    "lag_events": sum(p.lag_events for p in mine),
                    "lag_seconds": max((p.lag_seconds for p in mine), default=0.0),
                    "applied": sum(p.applied for p in mine),
                    "parked": sum(p.parked for p in mine),
                    "dead_lettered": sum(p.dead_lettered for p in mine),
                    "owners": sorted({p.owner for p in mine if p.owner}),
                }
            )
        return lines


_WORST = ("down", "relay blocked", "relay down", "needs upgrade", "stalled")


def ops_view(conn: Connection[Any], schema: str, topic_prefix: str = "") -> OpsView:
    with conn.cursor(row_factory=dict_row) as cur:
        relay = cur.execute(
            sql.SQL(
                "SELECT checkpoint, backlog, blocked_type, heartbeat_at,"
                " heartbeat_at > now() - make_interval(secs => %s) AS active FROM {}()"
            ).format(sql.Identifier(schema, RELAY_STATE_FUNCTION)),
            (STALE_AFTER_SECONDS,),
        ).fetchone()
        models = cur.execute(
            sql.SQL(
                "SELECT projection, table_version, state, updated_at, rebuild_done, rebuild_total"
                " FROM {} ORDER BY projection"
            ).format(sql.Identifier(schema, MODEL_VERSIONS_TABLE))
        ).fetchall()
        letters = cur.execute(
            sql.SQL(
                "SELECT projection, event_type, aggregate_id, version, notification_id,"
                " error_class, error, parked_at FROM {} WHERE reason = 'dead_letter'"
                " ORDER BY parked_at DESC LIMIT 20"
            ).format(sql.Identifier(schema, PARKED_TABLE))
        ).fetchall()
    return OpsView(projection_status(conn, schema, topic_prefix), relay or {}, models, letters)


def shown_state(state: str, partitions: list[Any]) -> str:
    """``needs upgrade: <types>`` names what waits; other states as they are."""
    if state != "needs upgrade":
        return state
    types = {t for p in partitions for t in (p.upgrade_types or "").split(", ") if t}
    return f"needs upgrade: {', '.join(sorted(types))}"
