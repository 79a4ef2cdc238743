"""Read-only operator views: projection status and relay status.

Each returns plain data (``--json`` prints it as is); the CLI renders tables.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from contracts.bookkeeping import MODEL_VERSIONS_TABLE, rebuild_lock, relay_lock
from contracts.reactions import REACTOR_SOURCES
from contracts.readmodels import SOURCES, TABLE_VERSIONS
from eventshop import wiring
from eventshop.settings import Settings
from projections.rebuild.rebuilder import Progress
from projections.rebuild.verify import VerifyReport
from projections.rebuild.verify import verify as verify_read_model
from projections.rebuild.verify_effects import verify_effects
from read_side.operations.projection_status import projection_status
from write_side.persistence.migrations import EVENTS_TABLE

_COUNTERS = (
    "applied",
    "duplicates",
    "skipped",
    "parked",
    "dead_lettered",
    "held_letters",
    "rewinds",
)


def projections(settings: Settings, *, partitions: bool) -> list[dict[str, Any]]:
    with psycopg.connect(wiring.database_url(settings)) as conn:
        rows = [
            r.model_dump(mode="json")
            for r in projection_status(conn, settings.read_schema, settings.topic_prefix)
        ]
        models = _models(conn, settings.read_schema)
    if partitions:
        return rows
    summary: list[dict[str, Any]] = []
    # Reactors' intakes show beside the read models (their lag is measured the same way).
    for name, contexts in {**SOURCES, **REACTOR_SOURCES}.items():
        mine = [r for r in rows if r["projection"] == name]
        table_version, state = models.get(name, (None, ""))
        entry: dict[str, Any] = {
            "projection": name,
            "state": state or _worst(mine),
            "table_version": table_version,
            "topics": ", ".join(contexts),
            "partitions": len(mine),
            "lag_events": sum(r["lag_events"] for r in mine),
            "relay_backlog": max((r["relay_backlog"] for r in mine), default=0),
            "owners": len({r["owner"] for r in mine if r["owner"]}),
            "lag_seconds": max((r["lag_seconds"] for r in mine), default=0),
        }
        entry |= {counter: sum(r[counter] for r in mine) for counter in _COUNTERS}
        summary.append(entry)
    return summary


def _worst(partitions: list[dict[str, Any]]) -> str:
    for state in ("down", "relay blocked", "relay down", "needs upgrade", "stalled"):
        if any(r["state"] == state for r in partitions):
            if state == "needs upgrade":  # say what waits
                types = {t for r in partitions for t in (r["upgrade_types"] or "").split(", ")}
                return f"needs upgrade: {', '.join(sorted(t for t in types if t))}"
            return state
    return "live" if partitions else "idle"


def _models(conn: psycopg.Connection[Any], schema: str) -> dict[str, tuple[int, str]]:
    """Each read model's live table version, and a state when it is not simply live:
    rebuilding, swapping (or either one interrupted), or waiting for a rebuild."""
    found = conn.execute(
        sql.SQL(
            "SELECT v.projection, v.table_version, v.state, EXISTS (SELECT 1 FROM pg_locks l"
            " WHERE l.locktype = 'advisory' AND l.granted AND l.objid ="
            " hashtext(%s || v.projection)::oid) FROM {} v"
        ).format(sql.Identifier(schema, MODEL_VERSIONS_TABLE)),
        (rebuild_lock(schema, ""),),  # the key without its projection, which SQL appends
    ).fetchall()
    models: dict[str, tuple[int, str]] = {}
    for name, version, state, locked in found:
        wanted = TABLE_VERSIONS.get(name)
        if state != "live":
            shown = state if locked else f"{state} (interrupted: rerun the rebuild to resume)"
        elif version != wanted:
            shown = f"needs rebuild (tables v{version}, code v{wanted})"
        else:
            shown = ""
        models[name] = (version, shown)
    return models


def relay_status(settings: Settings) -> dict[str, Any]:
    schema = sql.Identifier(settings.event_schema)
    with psycopg.connect(wiring.database_url(settings)) as conn:
        row = conn.execute(
            sql.SQL(
                "SELECT notification_id, republished, updated_at, blocked_type, blocked_at,"
                " blocked_since FROM {}.relay_checkpoint"
            ).format(schema)
        ).fetchone()
        checkpoint, republished, updated_at, blocked, blocked_at, since = (
            row if row else (0, 0, None, None, None, None)
        )
        behind = conn.execute(
            sql.SQL(
                "SELECT count(*), max(notification_id) FROM {}.{} WHERE notification_id > %s"
            ).format(schema, sql.Identifier(EVENTS_TABLE)),
            (checkpoint,),
        ).fetchone()
        held = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND objid = hashtext(%s)::oid",
            (relay_lock(settings.event_schema),),
        ).fetchone()
    active = bool(held and held[0])
    return {
        "state": "blocked" if blocked else ("active" if active else "down"),
        "blocked_at_type": blocked,
        "blocked_at_notification_id": blocked_at,
        "blocked_since": since.isoformat() if since else None,
        "checkpoint_notification_id": checkpoint,
        "unpublished_notifications": behind[0] if behind else 0,
        "head_notification_id": (behind[1] if behind and behind[1] else checkpoint),
        "republished_whole_log": republished,
        "active_relay": active,
        "checkpoint_updated_at": updated_at.isoformat() if updated_at else None,
    }


def verify(settings: Settings, name: str, progress: Progress | None = None) -> VerifyReport:
    """`projections verify NAME`: a read model against its rebuild, a reactor's intake
    (``wiring.MAIL_INTAKE``) against the effect records a replay owes."""
    if name == wiring.MAIL_INTAKE.name:
        return verify_effects(
            wiring.MAIL_INTAKE,
            database_url=wiring.database_url(settings),
            read_schema=settings.read_schema,
            events=sql.Identifier(settings.event_schema, EVENTS_TABLE),
            topic_prefix=settings.topic_prefix,
            progress=progress,
        )
    return verify_read_model(wiring.rebuilder(settings, name), progress)
