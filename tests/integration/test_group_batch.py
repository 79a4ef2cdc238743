"""A processing group's batch on real PostgreSQL and the real broker: the fast path (no
savepoint per member) and its redo (a savepoint per member) when a handler fails
(projections/live/group_batch.py).

products and orders both read the catalog topic. orders' handler for a new product fails
here as often as a test asks: the first failure rolls the whole fast attempt back, the
redo isolates orders in its savepoint, and products commits once, counted once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import psycopg
import pytest

from contracts import bookkeeping as names
from contracts.envelope import Envelope
from contracts.events import ProductCreated
from contracts.topics import dead_letter_topic, topic_name
from contracts.upcasting import encode
from eventshop import wiring
from projections.live.group_batch import apply_group
from projections.live.member import Member
from projections.live.topics import ensure_topics
from projections.models.orders import ORDERS
from projections.models.products import PRODUCTS
from projections.records import HandlerFailedError, Incoming
from tests.support.stack import Servers, isolated_settings
from tests.support.topics import read_all


class Flaky:
    """orders' handler for ProductCreated, failing its first ``failures`` calls."""

    def __init__(self, failures: int) -> None:
        self.failures, self.calls = failures, 0
        self.handler = ORDERS.handler_for(ProductCreated.type_name)

    def __call__(self, cur: Any, schema: str, envelope: Envelope, event: Any) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise RuntimeError("the order side's lookup timed out")  # may pass: retried
        assert self.handler is not None
        self.handler(cur, schema, envelope, event)


@dataclass(frozen=True)
class Shop:
    database_url: str
    bootstrap_servers: str
    read_schema: str
    topic_prefix: str


@pytest.fixture
def settings(servers: Servers) -> Iterator[Shop]:
    settings = isolated_settings(servers)
    wiring.migrate(settings)
    shop = Shop(
        servers.database_url,
        servers.kafka_bootstrap_servers,
        settings.read_schema,
        settings.topic_prefix,
    )
    ensure_topics(shop.bootstrap_servers, [catalog(shop)])
    yield shop


def catalog(settings: Shop) -> str:
    return topic_name("catalog", settings.topic_prefix)


def group(settings: Shop, flaky: Flaky) -> list[Member]:
    orders = replace(ORDERS, handlers={**ORDERS.handlers, ProductCreated: flaky})
    return [
        Member(p, settings.read_schema, settings.bootstrap_servers, settings.topic_prefix)
        for p in (PRODUCTS, orders)
    ]


def product_record(settings: Shop, offset: int) -> Incoming:
    event = ProductCreated(occurred_at=datetime.now(UTC), sku="G-1", title="Lamp", price=900)
    envelope = Envelope(offset + 1, uuid4(), 1, event.type_name, 1, encode(event))
    headers = envelope.headers(datetime.now(UTC))
    return Incoming(catalog(settings), 0, offset, headers, envelope.payload)


def positions(conn: psycopg.Connection[Any], schema: str) -> dict[str, tuple[int, int]]:
    rows = conn.execute(
        f"SELECT projection, applied, dead_lettered FROM {schema}.{names.POSITIONS_TABLE}"
    ).fetchall()
    return {str(name): (int(applied), int(dead)) for name, applied, dead in rows}


def test_a_handler_failing_once_redoes_the_batch_and_everyone_applies_it_once(
    settings: Shop,
) -> None:
    flaky = Flaky(failures=1)
    members = group(settings, flaky)
    with psycopg.connect(settings.database_url) as conn:
        outcome = apply_group(
            conn, settings.read_schema, members, [product_record(settings, 0)], {}
        )
        assert outcome.failed is None
        assert positions(conn, settings.read_schema) == {"products": (1, 0), "orders": (1, 0)}
    assert flaky.calls == 2  # failed on the fast path, applied in the redo
    products = members[0].stats
    assert (products.batches, products.applied) == (1, 1), "the rolled-back attempt counted"


def test_a_member_failing_again_in_the_redo_rolls_back_alone(settings: Shop) -> None:
    members = group(settings, Flaky(failures=3))  # fast path, redo, careful redo
    with psycopg.connect(settings.database_url) as conn:
        outcome = apply_group(
            conn, settings.read_schema, members, [product_record(settings, 0)], {}
        )
        assert isinstance(outcome.failed, HandlerFailedError)  # orders: pending, retried
        assert positions(conn, settings.read_schema) == {"products": (1, 0), "orders": (0, 0)}
        count = f"SELECT count(*) FROM {settings.read_schema}.products"
        assert conn.execute(count).fetchone() == (1,)
    assert (members[0].stats.applied, members[1].stats.applied) == (1, 0)


def test_an_undecodable_records_letter_is_sent_once_though_another_handler_failed(
    settings: Shop,
) -> None:
    """Each member dead-letters the undecodable record once. Had the batch taken the fast
    path, products would have sent its letter before orders' failure rolled the attempt
    back, and again in the redo."""
    garbage = Incoming(catalog(settings), 0, 0, [("notification_id", b"x")], b"\xff\x00")
    members = group(settings, Flaky(failures=1))
    try:
        with psycopg.connect(settings.database_url) as conn:
            records = [garbage, product_record(settings, 1)]
            outcome = apply_group(conn, settings.read_schema, members, records, {})
            assert outcome.failed is None
            assert positions(conn, settings.read_schema) == {
                "products": (1, 1),
                "orders": (1, 1),
            }
    finally:
        for member in members:
            member.letters.close()
    letters = read_all(settings.bootstrap_servers, [dead_letter_topic(catalog(settings))])
    senders = sorted(dict(r.headers)[names.DLT_PROJECTION].decode() for r in letters)
    assert senders == ["orders", "products"]


def test_a_statement_the_database_refuses_in_the_shared_pipeline_is_one_members_dead_letter(
    settings: Shop,
) -> None:
    """The fast path sends every member's statements in one pipeline, so the refusal
    surfaces where the group's pipeline ends, after products' statements were sent: the
    batch is redone with a savepoint per member, products applies once, and only orders'
    event is dead-lettered (not the whole batch retried forever, nor an error raised)."""

    def refusing(cur: Any, schema: str, envelope: Envelope, event: Any) -> None:
        cur.execute("SELECT 1 / 0")

    orders = replace(ORDERS, handlers={**ORDERS.handlers, ProductCreated: refusing})
    members = [
        Member(p, settings.read_schema, settings.bootstrap_servers, settings.topic_prefix)
        for p in (PRODUCTS, orders)
    ]
    try:
        with psycopg.connect(settings.database_url) as conn:
            records = [product_record(settings, 0)]
            outcome = apply_group(conn, settings.read_schema, members, records, {})
            assert outcome.failed is None
            assert positions(conn, settings.read_schema) == {
                "products": (1, 0),
                "orders": (0, 1),
            }
            count = f"SELECT count(*) FROM {settings.read_schema}.products"
            assert conn.execute(count).fetchone() == (1,)
    finally:
        for member in members:
            member.letters.close()
    assert (members[0].stats.batches, members[0].stats.applied) == (1, 1)
    letters = read_all(settings.bootstrap_servers, [dead_letter_topic(catalog(settings))])
    assert [dict(r.headers)[names.DLT_PROJECTION].decode() for r in letters] == ["orders"]
