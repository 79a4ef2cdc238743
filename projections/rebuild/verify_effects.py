"""Verify a reactor intake: its effect records against a replay of the event store.

An intake is never rebuilt (its records outlive any rebuild: a mail sent stays sent), so
verify does not rebuild it; it replays the store with ``contracts`` alone, computes the
key of every effect owed (``Effects.key_of``) and compares them with the live records.
Aligned to positions as a read model's verify is: an event beyond the intake's position on
its partition is lag, reported beside the result. A record owed and missing, or present
and owed by no event, is a difference. Records an intake prunes (``Effects.pruned_through``)
are compared above its watermark only.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from contracts.bookkeeping import POSITIONS_TABLE
from contracts.envelope import Envelope
from contracts.upcasting import decode
from projections.projection import Projection
from projections.rebuild.rebuilder import Progress
from projections.rebuild.store_reader import StoreReader
from projections.rebuild.verify import TableComparison, VerifyReport


def verify_effects(
    projection: Projection,
    *,
    database_url: str,
    read_schema: str,
    events: sql.Identifier,
    topic_prefix: str,
    progress: Progress | None = None,
    max_keys: int = 10,
) -> VerifyReport:
    effects = projection.effects
    assert effects is not None, f"{projection.name} declares no effect records"
    store = StoreReader(projection, events, topic_prefix, batch_size=5000)
    with psycopg.connect(database_url) as conn:
        positions = _positions(conn, read_schema, projection.name)
        pruned = effects.pruned_through(conn, read_schema) if effects.pruned_through else 0
        # The keys on both sides go to temporary tables, so memory stays a batch's however
        # many effects the history owes; the live ones are read now, with the positions.
        conn.execute("CREATE TEMP TABLE verify_live (key text PRIMARY KEY)")
        conn.execute("CREATE TEMP TABLE verify_owed (key text PRIMARY KEY, due bool NOT NULL)")
        conn.execute(
            sql.SQL("INSERT INTO verify_live SELECT key FROM {}{}").format(
                sql.Identifier(read_schema, effects.table),
                sql.SQL(" WHERE notification_id > %s") if pruned else sql.SQL(""),
            ),
            (pruned,) if pruned else None,
        )
        lag = 0
        total, done, after = store.count(conn, 0), 0, 0
        while rows := store.fetch(conn, after):
            owed: list[tuple[str, bool]] = []
            for notification_id, originator_id, version, stored, state in rows:
                aggregate_id = UUID(str(originator_id))
                placed = store.placed(stored, aggregate_id)
                if placed.event_type not in effects.event_types or notification_id <= pruned:
                    continue
                envelope = Envelope(
                    0, aggregate_id, version, placed.event_type, placed.schema_version, state
                )
                event = decode(placed.event_type, placed.schema_version, bytes(state))
                key = effects.key_of(envelope, event)
                if key is not None:
                    due = notification_id <= positions.get((placed.topic, placed.partition), 0)
                    owed.append((key, due))
                    lag += not due
            with conn.cursor().copy("COPY verify_owed (key, due) FROM STDIN") as copy:
                for row in owed:
                    copy.write_row(row)
            after, done = int(rows[-1][0]), done + len(rows)
            if progress:
                progress(done, total)
        live_rows, due_rows, missing, unexpected = _differences(conn, max_keys)
        conn.rollback()  # the temporary tables go
    differing = [f"owed, missing: {k}" for k in missing]
    differing += [f"owed by no event: {k}" for k in unexpected]
    table = TableComparison(
        effects.table, live_rows, due_rows, not missing and not unexpected, differing[:max_keys]
    )
    return VerifyReport(projection.name, [table], lag)


def _differences(
    conn: psycopg.Connection[Any], max_keys: int
) -> tuple[int, int, list[str], list[str]]:
    """Live rows, due rows, and up to ``max_keys`` keys missing and unexpected, in order."""
    counted = conn.execute(
        "SELECT (SELECT count(*) FROM verify_live), (SELECT count(*) FROM verify_owed WHERE due)"
    ).fetchone()
    missing = conn.execute(
        "SELECT key FROM verify_owed o WHERE due AND NOT EXISTS"
        " (SELECT 1 FROM verify_live l WHERE l.key = o.key) ORDER BY key LIMIT %s",
        (max_keys,),
    ).fetchall()
    unexpected = conn.execute(
        "SELECT key FROM verify_live l WHERE NOT EXISTS"
        " (SELECT 1 FROM verify_owed o WHERE o.key = l.key) ORDER BY key LIMIT %s",
        (max_keys,),
    ).fetchall()
    live_rows, due_rows = counted if counted else (0, 0)
    return int(live_rows), int(due_rows), [r[0] for r in missing], [r[0] for r in unexpected]


def _positions(conn: psycopg.Connection[Any], schema: str, name: str) -> dict[tuple[str, int], int]:
    rows = conn.execute(
        sql.SQL("SELECT topic, partition, notification_id FROM {} WHERE projection = %s").format(
            sql.Identifier(schema, POSITIONS_TABLE)
        ),
        (name,),
    ).fetchall()
    return {(str(t), int(p)): int(n) for t, p, n in rows}
