"""The blue/green swap of a rebuild: the shadow's tables become the live ones, atomically.

Under one transaction: the table-version row first (live projectors take it FOR SHARE
before writing), then ACCESS EXCLUSIVE on the live tables, so the order is theirs and
nobody deadlocks; what arrived since the bulk build is applied through the live applier;
versions and parked rows are copied; the tables change schemas; the query role is
granted; the table version is recorded. Live queries read the old copy until the commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from contracts.bookkeeping import MODEL_VERSIONS_TABLE, PARKED_TABLE, RELEASES_TABLE, VERSIONS_TABLE
from contracts.readmodels import TABLE_VERSIONS
from projections.projection import Projection

log = logging.getLogger("projections.rebuild.rebuilder")


def swap_in(
    conn: psycopg.Connection[Any],
    projection: Projection,
    *,
    live: str,
    shadow: str,
    retired: str,
    query_role: str,
    catch_up: Callable[[psycopg.Connection[Any], int], int],
) -> int:
    """In one transaction: lock, catch up what arrived meanwhile, swap the shadow's tables
    in, and record the table version; returns the events caught up under the lock."""
    name = projection.name
    versions = sql.Identifier(live, MODEL_VERSIONS_TABLE)
    with conn.transaction():
        _lock_live(conn, projection, live, versions)
        row = conn.execute(
            sql.SQL("SELECT notification_id FROM {}.rebuild_state").format(sql.Identifier(shadow))
        ).fetchone()
        caught_up = catch_up(conn, int(row[0]) if row else 0)
        _record_rebuilt_letters(conn, live, shadow, name)
        _copy_bookkeeping(conn, live, shadow, name)
        _move_tables(
            conn, projection, live=live, shadow=shadow, retired=retired, query_role=query_role
        )
        conn.execute(
            sql.SQL(
                "UPDATE {} SET table_version = %s, state = 'live', updated_at = now()"
                " WHERE projection = %s"
            ).format(versions),
            (TABLE_VERSIONS[name], name),
        )
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(shadow)))
    log.info("rebuild %s: swapped in (%d events caught up under the lock)", name, caught_up)
    return caught_up


def _lock_live(
    conn: psycopg.Connection[Any], projection: Projection, live: str, versions: sql.Identifier
) -> None:
    """First the version row (live projectors take it FOR SHARE before writing), then the
    tables: the same order as theirs, so no deadlock."""
    conn.execute(
        sql.SQL("SELECT 1 FROM {} WHERE projection = %s FOR UPDATE").format(versions),
        (projection.name,),
    )
    for table in projection.tables:
        conn.execute(
            sql.SQL("CREATE TABLE IF NOT EXISTS {} ()").format(sql.Identifier(live, table))
        )  # a table new in this version has no live copy yet: an empty stand-in
        conn.execute(
            sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(sql.Identifier(live, table))
        )


def _copy_bookkeeping(conn: psycopg.Connection[Any], live: str, shadow: str, name: str) -> None:
    """The rebuilt aggregates' versions and parked events replace the live ones."""
    for table in (VERSIONS_TABLE, PARKED_TABLE):
        conn.execute(
            sql.SQL("DELETE FROM {} WHERE projection = %s").format(sql.Identifier(live, table)),
            (name,),
        )
        conn.execute(
            sql.SQL("INSERT INTO {} SELECT * FROM {} WHERE projection = %s").format(
                sql.Identifier(live, table), sql.Identifier(shadow, table)
            ),
            (name,),
        )


def _move_tables(
    conn: psycopg.Connection[Any],
    projection: Projection,
    *,
    live: str,
    shadow: str,
    retired: str,
    query_role: str,
) -> None:
    """The live tables retire; the shadow's take their place, readable by the query role."""
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(retired)))
    for table in projection.tables:
        conn.execute(
            sql.SQL("ALTER TABLE {} SET SCHEMA {}").format(
                sql.Identifier(live, table), sql.Identifier(retired)
            )
        )
        conn.execute(
            sql.SQL("ALTER TABLE {} SET SCHEMA {}").format(
                sql.Identifier(shadow, table), sql.Identifier(live)
            )
        )
        conn.execute(
            sql.SQL("GRANT SELECT ON {} TO {}").format(
                sql.Identifier(live, table), sql.Identifier(query_role)
            )
        )


def _record_rebuilt_letters(
    conn: psycopg.Connection[Any], live: str, shadow: str, name: str
) -> None:
    """Dead letters the rebuild could apply leave the live parked rows with the swap:
    record them as replayed, so `eventshop dlq list` knows what became of them."""
    conn.execute(
        sql.SQL(
            "INSERT INTO {releases} (projection, notification_id, resolution, note)"
            " SELECT projection, notification_id, 'replayed', 'applied by a rebuild'"
            " FROM {live} l WHERE l.projection = %s AND l.reason = 'dead_letter'"
            " AND NOT EXISTS (SELECT 1 FROM {shadow} s WHERE s.projection = l.projection"
            " AND s.notification_id = l.notification_id AND s.reason = 'dead_letter')"
            " ON CONFLICT DO NOTHING"
        ).format(
            releases=sql.Identifier(live, RELEASES_TABLE),
            live=sql.Identifier(live, PARKED_TABLE),
            shadow=sql.Identifier(shadow, PARKED_TABLE),
        ),
        (name,),
    )
