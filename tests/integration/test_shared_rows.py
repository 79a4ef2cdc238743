"""Two projector instances never deadlock on rows both change (``Projection.shared_rows``).

Order events are partitioned by order, so two instances of the customers projection change
one customer's statistics row. Each applies its batch in one transaction; without a common
order, one that changed customer X and waits for Y while the other changed Y and waits for
X is a deadlock, which PostgreSQL breaks only after ``deadlock_timeout`` (a second: the
saturation tail `bench.system` showed). Made deterministic here: a third transaction holds
Y's row, the second instance's batch (Y, then X) queues for it first, the first instance's
batch (X, then Y) queues behind; then Y is released. PostgreSQL's own deadlock counter tells.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from psycopg import sql

from contracts.envelope import Envelope
from contracts.events import OrderLine, OrderPlaced
from contracts.upcasting import encode
from eventshop import wiring
from projections.live.applier import Applier
from projections.models.customers import CUSTOMERS
from projections.records import Incoming
from tests.support.stack import Servers, isolated_settings

TOPIC = "t.shop.orders"


@pytest.fixture
def schema(servers: Servers) -> Iterator[str]:
    settings = isolated_settings(servers)
    wiring.migrate(settings)
    yield settings.read_schema


def placed(partition: int, offset: int, customer: UUID) -> Incoming:
    """An order's first event, as the relay publishes it."""
    event = OrderPlaced(
        occurred_at=datetime.now(UTC),
        customer_id=customer,
        lines=(OrderLine(product_id=uuid4(), sku="S-1", title="Sofa", quantity=1, unit_price=5),),
        total=5,
    )
    envelope = Envelope(offset + 1, uuid4(), 1, OrderPlaced.type_name, 1, encode(event))
    return Incoming(TOPIC, partition, offset, envelope.headers(datetime.now(UTC)), envelope.payload)


def deadlocks(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute(
        "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
    ).fetchone()
    conn.commit()
    return int(row[0]) if row else 0


def settled_deadlocks(conn: psycopg.Connection[Any]) -> int:
    """The counter once the batches' sessions have reported (a backend does at its exit,
    a moment after its client closed it)."""
    time.sleep(0.5)
    return deadlocks(conn)


def waiting_on_locks(conn: psycopg.Connection[Any], count: int) -> None:
    """Until ``count`` other sessions wait for a lock (the batches have queued)."""
    for _ in range(500):
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND datname = current_database()"
        ).fetchone()
        conn.commit()
        if row and row[0] >= count:
            return
        time.sleep(0.01)
    raise AssertionError(f"{count} sessions never waited for a lock")


def instance(
    servers: Servers, schema: str, records: list[Incoming], failures: list[BaseException]
) -> threading.Thread:
    """A projector instance applying one batch, in a thread of its own (not started)."""

    def apply() -> None:
        try:
            with psycopg.connect(servers.database_url) as conn:
                Applier(CUSTOMERS, schema).apply(conn, records)
        except BaseException as error:
            failures.append(error)

    return threading.Thread(target=apply)


def test_two_instances_batches_over_the_same_customers_do_not_deadlock(
    servers: Servers, schema: str
) -> None:
    x, y = sorted([uuid4(), uuid4()])
    stats = sql.Identifier(schema, "customer_order_stats")
    with psycopg.connect(servers.database_url) as blocker:
        blocker.execute(
            sql.SQL("INSERT INTO {} (customer_id, order_count) VALUES (%s, 1), (%s, 1)").format(
                stats
            ),
            (x, y),
        )
        blocker.commit()
        before = deadlocks(blocker)
        blocker.execute(
            sql.SQL("SELECT 1 FROM {} WHERE customer_id = %s FOR UPDATE").format(stats), (y,)
        )
        failures: list[BaseException] = []

        second = instance(servers, schema, [placed(1, 0, y), placed(1, 1, x)], failures)
        first = instance(servers, schema, [placed(0, 0, x), placed(0, 1, y)], failures)
        with psycopg.connect(servers.database_url) as watcher:
            second.start()
            waiting_on_locks(watcher, 1)  # the second instance queues for Y first
            first.start()
            waiting_on_locks(watcher, 2)  # then the first, holding X unless locks are ordered
            blocker.rollback()  # Y is free: the second instance takes it, then wants X
            second.join(timeout=30)
            first.join(timeout=30)
            assert not failures, failures
            assert settled_deadlocks(watcher) == before, "PostgreSQL broke a deadlock between them"
            counts: dict[UUID, int] = dict(
                watcher.execute(
                    sql.SQL("SELECT customer_id, order_count FROM {}").format(stats)
                ).fetchall()
            )
    assert counts == {x: 3, y: 3}


def test_new_customers_first_orders_in_two_instances_do_not_deadlock(
    servers: Servers, schema: str
) -> None:
    """A customer's first order creates the statistics row in its handler: there is no row
    to lock yet. Each trial: a third transaction inserts Y's row and holds it; the second
    instance's batch (Y, then X) queues behind it, the first's (X, then Y) too; on the
    release, whichever inserts Y first wins. Without a common order the second instance
    wins about half the time and then waits for X, which the first holds: a deadlock."""
    stats = sql.Identifier(schema, "customer_order_stats")
    failures: list[BaseException] = []
    customers: list[UUID] = []
    with psycopg.connect(servers.database_url) as watcher:
        before = deadlocks(watcher)
        for trial in range(8):
            x, y = uuid4(), uuid4()
            customers += [x, y]
            with psycopg.connect(servers.database_url) as blocker:
                blocker.execute(
                    sql.SQL("INSERT INTO {} (customer_id) VALUES (%s)").format(stats), (y,)
                )
                n = 2 * trial
                second = instance(servers, schema, [placed(1, n, y), placed(1, n + 1, x)], failures)
                first = instance(servers, schema, [placed(0, n, x), placed(0, n + 1, y)], failures)
                second.start()
                waiting_on_locks(watcher, 1)
                first.start()
                waiting_on_locks(watcher, 2)
                blocker.rollback()
                second.join(timeout=30)
                first.join(timeout=30)
        assert not failures, failures
        assert settled_deadlocks(watcher) == before, "PostgreSQL broke a deadlock between them"
        counts: dict[UUID, int] = dict(
            watcher.execute(sql.SQL("SELECT customer_id, order_count FROM {}").format(stats))
        )
    assert counts == dict.fromkeys(customers, 2)
