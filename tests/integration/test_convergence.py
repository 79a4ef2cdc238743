"""Convergence (docs/architecture.md, guarantees 2 to 4): however partitions interleave, however
often records are redelivered, the projectors' rows equal a pure in-memory replay of the events.

Histories are random contract events for customers, products and orders. Each aggregate
keeps its version order inside its partition (as Kafka does); partitions interleave at
random; crash-restarts redeliver a partition from an earlier offset.
"""

from __future__ import annotations

import random
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import read_side.queries.lookups as queries
import read_side.queries.orders as order_queries
from contracts import events as c
from projections.live.applier import Applier
from projections.live.batch_fold import FOLD_FROM_RECORDS
from projections.registry import PROJECTIONS
from read_side.queries import reports
from tests.support.histories import T0, History, deliveries, histories, oracle
from tests.support.reads import SyncReads


@pytest.mark.parametrize("fold_from", [FOLD_FROM_RECORDS, 1], ids=["statements", "folded"])
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(history=histories(), seed=st.integers(0, 2**32))
def test_projections_converge_to_the_replay_oracle(
    db: tuple[psycopg.Connection[Any], str],
    reads: SyncReads,
    fold_from: int,
    history: History,
    seed: int,
) -> None:
    """``folded``: every batch of a row-local projection is folded in memory and written
    once per row (projections/live/batch_fold.py), as a large batch is."""
    conn, schema = db
    rng = random.Random(seed)
    prefix = "t."
    appliers = [Applier(p, schema) for p in PROJECTIONS.values()]
    for applier in appliers:
        applier.fold_from_records = fold_from
    sales_before = reads(reports.sales, schema, start=T0.date(), end=T0.date())[0]
    deliver(conn, appliers, history, rng, prefix)
    assert_rows_match_the_oracle(reads, schema, history, sales_before)


def deliver(
    conn: psycopg.Connection[Any],
    appliers: list[Applier],
    history: History,
    rng: random.Random,
    prefix: str,
) -> None:
    """Hand every applier the records of its topics, batch by batch, as Kafka might."""
    for batch in deliveries(history, rng, prefix):
        for applier in appliers:
            mine = [
                r
                for r in batch
                if r.topic.removeprefix(prefix + "shop.") in applier.projection.contexts
            ]
            if mine:
                applier.apply(conn, mine)


def assert_rows_match_the_oracle(
    reads: SyncReads, schema: str, history: History, sales_before: Any
) -> None:
    """Every read model, through the query API's own queries, equals the pure replay of
    ``history`` (sales as the change since ``sales_before``)."""
    customers, products, orders = oracle(history)
    for cid, expected in customers.items():
        row = reads(queries.get_customer, schema, cid)
        assert row is not None
        got = row.model_dump(include=set(expected))
        assert got == expected
    for pid, expected in products.items():
        product = reads(queries.get_product, schema, pid, include_unpublished=True)
        assert product is not None
        assert product.model_dump(include=set(expected)) == expected
    sales_after = reads(reports.sales, schema, start=T0.date(), end=T0.date())[0]
    paid = [e for events in history.streams.values() for e in events if isinstance(e, c.OrderPaid)]
    refunds = [
        e.refunded
        for events in history.streams.values()
        for e in events
        if isinstance(e, c.OrderCancelled)
    ]
    assert sales_after.orders_placed - sales_before.orders_placed == len(orders)
    assert sales_after.orders_paid - sales_before.orders_paid == len(paid)
    assert sales_after.revenue - sales_before.revenue == sum(e.amount for e in paid)
    assert sales_after.refunded - sales_before.refunded == sum(refunds)
    for oid, expected in orders.items():
        order = reads(order_queries.get_order, schema, oid)
        assert order is not None
        assert (order.status, order.total, order.payment_status) == (
            expected["status"],
            expected["total"],
            expected["payment_status"],
        )
        assert order.customer.name == customers[expected["customer"]]["name"]
        assert order.customer.email == customers[expected["customer"]]["email"]
        assert [(line.product_id, line.quantity, line.title) for line in order.lines] == [
            (pid, q, products[pid]["title"]) for pid, q in expected["lines"]
        ]
