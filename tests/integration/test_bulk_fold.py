"""The rebuild's in-memory folds mean what the live SQL handlers mean (projections.rebuild.bulk).

For random histories, one copy of every projection's tables is built by the live applier
(records as Kafka delivers them: partitions interleaved, some redelivered) and another by
the bulk fold in store order, flushed at random points and resumed from the database once
(as a killed rebuild is), with a row cache so small that written rows leave memory and
are read back (projections.rebuild.row_cache). Both copies must hold the same rows, table
by table, and the same aggregate versions.
"""

from __future__ import annotations

import random
from typing import Any
from uuid import uuid4

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from contracts.bookkeeping import VERSIONS_TABLE
from contracts.envelope import Envelope
from projections.live.applier import Applier
from projections.rebuild.bulk import BulkBuild, FoldOutcome
from projections.rebuild.row_cache import CACHED_ROWS
from projections.registry import PROJECTIONS
from tests.support.histories import History, deliveries, histories, store_log

TABLES = sorted({t for p in PROJECTIONS.values() for t in p.tables})


def copy_of(conn: psycopg.Connection[Any], live: str) -> str:
    """An empty copy of every read-model table, in a schema of its own."""
    schema = f"{live}__t_{uuid4().hex[:8]}"
    conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    for table in [*TABLES, VERSIONS_TABLE, "projection_positions", "projection_parked"]:
        conn.execute(
            sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(
                sql.Identifier(schema, table), sql.Identifier(live, table)
            )
        )
    return schema


def rows(conn: psycopg.Connection[Any], schema: str, table: str) -> list[str]:
    found = conn.execute(
        sql.SQL("SELECT t::text FROM {} t ORDER BY 1").format(sql.Identifier(schema, table))
    ).fetchall()
    return [r[0] for r in found]


def fold(build: BulkBuild, batch: list[Envelope], outcome: FoldOutcome, rng: random.Random) -> None:
    """As a rebuild folds a batch, or event by event (every missing row read on its own)."""
    if rng.random() < 0.7:
        build.fold_batch(batch, outcome)
    else:
        for envelope in batch:
            build.fold(envelope, outcome)
    batch.clear()


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(history=histories(), seed=st.integers(0, 2**32))
def test_the_bulk_fold_writes_the_rows_the_live_handlers_write(
    db: tuple[psycopg.Connection[Any], str], history: History, seed: int
) -> None:
    conn, live = db
    rng = random.Random(seed)
    streamed, bulk = copy_of(conn, live), copy_of(conn, live)
    try:
        prefix = "t."
        for batch in deliveries(history, random.Random(seed), prefix):
            for projection in PROJECTIONS.values():
                mine = [
                    r
                    for r in batch
                    if r.topic.removeprefix(prefix + "shop.") in projection.contexts
                ]
                if mine:
                    Applier(projection, streamed).apply(conn, mine)

        log = store_log(history, random.Random(seed))
        for projection in PROJECTIONS.values():
            # A cache of a few rows drops written rows at every flush and reads them back.
            cached = rng.choice([2, 5, 40, CACHED_ROWS])
            build = BulkBuild.load(conn, projection, bulk, cached_rows=cached)
            resume_at = rng.randrange(len(log) + 1)
            outcome = FoldOutcome()
            pending: list[Envelope] = []
            for n, (envelope, event) in enumerate(log):
                if n == resume_at:  # a killed rebuild: what was flushed is all that is left
                    build = BulkBuild.load(conn, projection, bulk, cached_rows=cached)
                if event.context in projection.contexts:
                    pending.append(envelope)
                if rng.random() < 0.2 or n + 1 == resume_at:
                    fold(build, pending, outcome, rng)
                    with conn.transaction():
                        build.flush(conn)
            fold(build, pending, outcome, rng)
            with conn.transaction():
                build.flush(conn)
            assert outcome.failed == []

        for table in [*TABLES, VERSIONS_TABLE]:
            assert rows(conn, bulk, table) == rows(conn, streamed, table), table
    finally:
        for schema in (streamed, bulk):
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
