"""Verify a projection: rebuild it into a scratch schema and diff it with the live copy.

Aligned to what the live copy had applied, so lag is never a difference: in one
REPEATABLE READ snapshot the live tables are copied into the scratch schema together with
the live projector's positions and aggregate versions; the rebuild then folds only the
events at or below their partition's position or their aggregate's version (a rebuild
swaps in tables ahead of the positions: the projector meets those events later as
duplicates). An event the projector consumed but did not apply (one lost before it, a
dead letter) is at or below its position, so the rebuild folds it and the difference
shows. The events beyond both are the lag, reported beside the result, not in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from contracts.bookkeeping import POSITIONS_TABLE, VERSIONS_TABLE
from contracts.readmodels import TABLE_VERSIONS
from projections.rebuild.rebuilder import Progress, Rebuilder
from projections.rebuild.store_reader import Cutoff
from projections.records import TableVersionMismatchError
from projections.schema import live_table_version


@dataclass(frozen=True)
class TableComparison:
    table: str
    live_rows: int
    rebuilt_rows: int
    equal: bool
    #: Up to ``max_keys`` rows found on one side only, as PostgreSQL renders them.
    differing: list[str]


@dataclass(frozen=True)
class VerifyReport:
    projection: str
    tables: list[TableComparison]
    #: Events in the store the live projector had not applied when verify looked.
    lag_events: int = 0

    @property
    def equal(self) -> bool:
        return all(t.equal for t in self.tables)


def verify(
    rebuilder: Rebuilder, progress: Progress | None = None, max_keys: int = 10
) -> VerifyReport:
    name, live_schema = rebuilder.projection.name, rebuilder.live
    scratch = f"{live_schema}__verify_{name}"
    rebuilder._failed = []
    with psycopg.connect(rebuilder.database_url) as conn:
        live = live_table_version(conn, live_schema, name)
        if live != TABLE_VERSIONS[name]:
            raise TableVersionMismatchError(
                name, live, TABLE_VERSIONS[name], hint="rebuild it (nothing to compare until then)"
            )
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(scratch)))
        conn.commit()
        rebuilder._prepare_shadow(conn, scratch)
        cutoff = _freeze_live(conn, rebuilder, scratch)
        rebuilder._bulk(conn, 0, progress, schema=scratch, cutoff=cutoff)
        tables = [_compare(conn, table, scratch, max_keys) for table in rebuilder.projection.tables]
        lag = _lag(conn, rebuilder, cutoff)
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(scratch)))
        conn.commit()
    return VerifyReport(name, tables, lag)


def _freeze_live(conn: psycopg.Connection[Any], rebuilder: Rebuilder, scratch: str) -> Cutoff:
    """Copy the live tables and versions, and read the positions, in one snapshot."""
    versions = sql.Identifier(scratch, "live__versions")
    conn.commit()
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    try:
        with conn.transaction():
            rows = conn.execute(
                sql.SQL(
                    "SELECT topic, partition, notification_id FROM {} WHERE projection = %s"
                ).format(sql.Identifier(rebuilder.live, POSITIONS_TABLE)),
                (rebuilder.projection.name,),
            ).fetchall()
            for table in rebuilder.projection.tables:
                conn.execute(
                    sql.SQL("CREATE TABLE {} AS TABLE {}").format(
                        sql.Identifier(scratch, f"live__{table}"),
                        sql.Identifier(rebuilder.live, table),
                    )
                )
            conn.execute(
                sql.SQL(
                    "CREATE TABLE {} AS SELECT aggregate_id, version FROM {} WHERE projection = %s"
                ).format(versions, sql.Identifier(rebuilder.live, VERSIONS_TABLE)),
                (rebuilder.projection.name,),
            )
            conn.execute(sql.SQL("ALTER TABLE {} ADD PRIMARY KEY (aggregate_id)").format(versions))
    finally:
        conn.isolation_level = None
    positions = {(topic, int(partition)): int(nid) for topic, partition, nid in rows}
    return Cutoff(positions, versions)


def _lag(conn: psycopg.Connection[Any], rebuilder: Rebuilder, cutoff: Cutoff) -> int:
    total = rebuilder.store.count(conn, 0)
    behind = 0
    after = 0
    while rows := rebuilder.store.fetch(conn, after, cutoff):
        for notification_id, originator_id, version, stored, _, live in rows:
            key = rebuilder.store.partition_of(stored, originator_id)
            behind += not cutoff.holds(notification_id, key, version, live)
        after = int(rows[-1][0])
    conn.commit()
    return min(behind, total)


def _compare(
    conn: psycopg.Connection[Any], table: str, scratch: str, max_keys: int
) -> TableComparison:
    live, fresh = sql.Identifier(scratch, f"live__{table}"), sql.Identifier(scratch, table)
    summary = sql.SQL(
        "SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {} t"
    )
    live_count, live_sum = conn.execute(summary.format(live)).fetchone() or (0, "")
    fresh_count, fresh_sum = conn.execute(summary.format(fresh)).fetchone() or (0, "")
    differing: list[str] = []
    if live_sum != fresh_sum:
        rows = conn.execute(
            sql.SQL(
                "(SELECT 'live: ' || t::text FROM {0} t"
                " EXCEPT SELECT 'live: ' || t::text FROM {1} t)"
                " UNION ALL"
                " (SELECT 'rebuilt: ' || t::text FROM {1} t EXCEPT"
                " SELECT 'rebuilt: ' || t::text FROM {0} t) LIMIT %s"
            ).format(live, fresh),
            (max_keys,),
        ).fetchall()
        differing = [str(r[0]) for r in rows]
    conn.commit()
    return TableComparison(
        table, int(live_count), int(fresh_count), live_sum == fresh_sum, differing
    )
