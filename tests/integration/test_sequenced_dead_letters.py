"""Sequenced dead letters (guarantee 2): a poison event stops its aggregate, nothing else.

Random histories, random poison events (a handler that fails for chosen events), random
Kafka deliveries with redeliveries. Every product with no poison equals the replay
oracle; every poisoned one equals the oracle of its history up to the dead letter — the
events behind it wait, none is applied on a state that lacks it. Then each letter is
replayed (with the fixed code) or discarded: the product equals the oracle of the whole
history, or of the history without that event.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any
from uuid import UUID

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import Cursor

import read_side.queries.lookups as queries
from contracts import events as c
from contracts.envelope import Envelope
from projections.live.applier import Applier
from projections.live.batch_fold import FOLD_FROM_RECORDS
from projections.live.release import DISCARD, REPLAY, DeadLetterRelease
from projections.memory_rows import Rows
from projections.models.products import PRODUCTS
from tests.support.histories import History, deliveries, histories, oracle
from tests.support.reads import SyncReads

PREFIX = "t."


def poisoned(targets: set[tuple[UUID, int]]) -> Any:
    """PRODUCTS with a bug that makes exactly the ``targets`` (aggregate, version) fail."""

    def wrap(handler: Any) -> Any:
        def buggy(cur: Cursor[Any], schema: str, env: Envelope, event: Any) -> None:
            if (env.aggregate_id, env.aggregate_version) in targets:
                raise ValueError("poison")
            handler(cur, schema, env, event)

        return buggy

    def wrap_fold(fold: Any) -> Any:  # the same bug where a large batch folds its rows
        def buggy(rows: Rows, env: Envelope, event: Any) -> None:
            if (env.aggregate_id, env.aggregate_version) in targets:
                raise ValueError("poison")
            fold(rows, env, event)

        return buggy

    return replace(
        PRODUCTS,
        handlers={k: wrap(v) for k, v in PRODUCTS.handlers.items()},
        folds={k: wrap_fold(v) for k, v in PRODUCTS.folds.items()},
    )


def without(history: History, aggregate_id: UUID, index: int, *, keep_rest: bool) -> History:
    """The history with ``aggregate_id``'s event at ``index`` removed (and, unless
    ``keep_rest``, every later event of that aggregate too)."""
    streams = dict(history.streams)
    events = streams[aggregate_id]
    streams[aggregate_id] = events[:index] + (events[index + 1 :] if keep_rest else [])
    return History(streams, history.clock)


def product_rows(reads: SyncReads, schema: str, ids: list[UUID]) -> dict[UUID, Any]:
    found = {}
    for pid in ids:
        row = reads(queries.get_product, schema, pid, include_unpublished=True)
        if row is not None:
            found[pid] = row
    return found


def assert_products_equal(
    reads: SyncReads, schema: str, expected: dict[UUID, Any], ids: list[UUID]
) -> None:
    rows = product_rows(reads, schema, ids)
    assert set(rows) == set(expected)
    for pid, want in expected.items():
        assert rows[pid].model_dump(include=set(want)) == want, pid


@pytest.mark.parametrize("fold_from", [FOLD_FROM_RECORDS, 1], ids=["statements", "folded"])
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(history=histories(), seed=st.integers(0, 2**32))
def test_a_poison_event_parks_its_aggregate_until_replayed_or_discarded(
    db: tuple[psycopg.Connection[Any], str],
    reads: SyncReads,
    fold_from: int,
    history: History,
    seed: int,
) -> None:
    conn, schema = db
    rng = random.Random(seed)
    products = [
        aid
        for aid, events in history.streams.items()
        if isinstance(events[0], c.ProductCreated) and len(events) > 1
    ]
    poison = {
        pid: rng.randrange(1, len(history.streams[pid])) for pid in products if rng.random() < 0.6
    }
    applier = Applier(poisoned({(pid, i + 1) for pid, i in poison.items()}), schema)
    applier.fold_from_records = fold_from  # 1: every batch folded, as large ones are
    for batch in deliveries(history, rng, PREFIX):
        mine = [r for r in batch if r.topic == f"{PREFIX}shop.catalog"]
        if mine:
            applier.apply(conn, mine)

    stopped = history
    for pid, index in poison.items():
        stopped = without(stopped, pid, index, keep_rest=False)
    every = [
        aid for aid, events in history.streams.items() if isinstance(events[0], c.ProductCreated)
    ]
    assert_products_equal(
        reads, schema, {k: v for k, v in oracle(stopped)[1].items() if k in every}, every
    )

    released = history
    for pid, index in poison.items():
        (notification_id,) = conn.execute(
            f"SELECT notification_id FROM {schema}.projection_parked"
            " WHERE projection = 'products' AND aggregate_id = %s AND reason = 'dead_letter'",
            (pid,),
        ).fetchone() or (None,)
        assert notification_id is not None, "the letter is kept in its place"
        action = rng.choice([REPLAY, DISCARD])
        outcome = DeadLetterRelease(PRODUCTS, schema).release(conn, notification_id, action)
        assert outcome.released
        assert outcome.followers == len(history.streams[pid]) - index - 1
        if action == DISCARD:
            released = without(released, pid, index, keep_rest=True)
    assert_products_equal(
        reads, schema, {k: v for k, v in oracle(released)[1].items() if k in every}, every
    )
