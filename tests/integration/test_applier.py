"""The applier on real PostgreSQL: dedupe, relay epochs and poison records."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest

from contracts import upcasting
from contracts.consistency import PartitionMark, aggregate_tag
from contracts.envelope import Envelope
from contracts.events import ContractEvent, ProductCreated, StockAdjusted
from contracts.upcasting import encode
from eventshop import wiring
from projections.live.applier import Applier
from projections.live.release import (
    DISCARD,
    REPLAY,
    DeadLetterRelease,
    NoSuchLetterError,
    upgrade_parked,
)
from projections.models.products import PRODUCTS
from projections.models.products.folds import fold_stock_adjusted
from projections.models.products.handlers import on_stock_adjusted
from projections.projection import Projection
from projections.records import Incoming
from read_side.consistency import read_snapshot
from read_side.operations.overview import shown_state
from read_side.operations.projection_status import projection_status
from tests.support.stack import Servers, isolated_settings

TOPIC = "t.shop.catalog"


class Log:
    """Builds records the way the relay would publish them."""

    def __init__(self) -> None:
        self.product_id = uuid4()
        self.events: list[tuple[int, ContractEvent]] = []

    def add(self, event: ContractEvent) -> int:
        notification_id = len(self.events) * 2 + 1  # ids have gaps, as in the event store
        self.events.append((notification_id, event))
        return notification_id

    def record(self, index: int, offset: int, epoch: int = 0) -> Incoming:
        notification_id, event = self.events[index]
        envelope = Envelope(
            notification_id,
            self.product_id,
            index + 1,
            type(event).type_name,
            1,
            encode(event),
            relay_epoch=epoch,
        )
        return Incoming(TOPIC, 0, offset, envelope.headers(datetime.now(UTC)), envelope.payload)


@pytest.fixture
def db(servers: Servers) -> Iterator[tuple[psycopg.Connection[tuple[object, ...]], str]]:
    settings = isolated_settings(servers)
    wiring.migrate(settings)
    with psycopg.connect(servers.database_url) as conn:
        yield conn, settings.read_schema


def a_log(deltas: tuple[int, ...] = (5, 7, -2)) -> Log:
    log = Log()
    now = datetime.now(UTC)
    log.add(ProductCreated(occurred_at=now, sku="S-1", title="Sofa", price=100))
    for delta in deltas:
        log.add(StockAdjusted(occurred_at=now, delta=delta))
    return log


def on_hand(conn: psycopg.Connection[tuple[object, ...]], schema: str, pid: UUID) -> object:
    row = conn.execute(f"SELECT on_hand FROM {schema}.products WHERE id = %s", (pid,)).fetchone()
    return row[0] if row else None


def test_redelivered_records_are_dropped_and_counted(db: tuple[psycopg.Connection, str]) -> None:
    conn, schema = db
    applier, log = Applier(PRODUCTS, schema), a_log()
    records = [log.record(i, offset=i) for i in range(4)]
    assert applier.apply(conn, records).applied == 4
    again = applier.apply(conn, records[1:])
    assert (again.applied, again.duplicates) == (0, 3)
    assert on_hand(conn, schema, log.product_id) == 10


def test_a_newer_relay_epoch_rewinds_instead_of_skipping(
    db: tuple[psycopg.Connection, str],
) -> None:
    conn, schema = db
    applier, log = Applier(PRODUCTS, schema), a_log((5, 7, -2, 1))
    # Epoch 0: the first two events were applied, then the broker lost everything.
    assert applier.apply(conn, [log.record(0, 0), log.record(1, 1)]).applied == 2
    # The new incarnation: one record published before the relay noticed (epoch 0), then the
    # whole log again (epoch 1). A consumer holding its old offset 2 starts mid-way.
    new_topic = [log.record(3, 0), *(log.record(i, 1 + i, epoch=1) for i in range(5))]
    mid_way = applier.apply(conn, new_topic[2:])
    assert mid_way.applied == 0
    assert mid_way.rewind == {(TOPIC, 0)}
    assert on_hand(conn, schema, log.product_id) == 5  # nothing applied out of order
    from_start = applier.apply(conn, new_topic)
    assert from_start.applied == 3  # events 2, 3 and 4, once each
    assert on_hand(conn, schema, log.product_id) == 11


def test_a_poison_event_is_dead_lettered_and_its_aggregates_later_events_wait_behind_it(
    db: tuple[psycopg.Connection, str],
) -> None:
    conn, schema = db
    applier, log, other = Applier(PRODUCTS, schema), a_log((5, 7)), a_log((3,))
    garbage_headers = Incoming(TOPIC, 0, 1, [("notification_id", b"x")], b"{}")
    corrupted = log.record(1, 2)  # the +5 adjustment, its payload mangled on the way
    corrupted = Incoming(TOPIC, 0, 2, corrupted.headers, b'{"delta": "many"}')
    outcome = applier.apply(
        conn,
        [log.record(0, 0), garbage_headers, corrupted, log.record(2, 3), *other_records(other)],
    )
    assert [type(d.error).__name__ for d in outcome.dead_letters] == [
        "UndecodableEventError",
        "UndecodableEventError",
    ]
    # The +7 is parked behind the dead letter, not applied on a state that lacks the +5.
    assert (outcome.applied, outcome.parked) == (1 + 2, 1)
    assert on_hand(conn, schema, log.product_id) == 0
    assert on_hand(conn, schema, other.product_id) == 3  # other aggregates go on
    # A token for the +7 is not reflected while it waits; one for the other product is.
    snapshot = read_snapshot(conn, schema, 1)
    mine = PartitionMark(TOPIC, 0, 5, (aggregate_tag(log.product_id),))
    theirs = PartitionMark(TOPIC, 0, 5, (aggregate_tag(other.product_id),))
    assert snapshot.pending("products", [mine, theirs]) == [mine]
    assert snapshot.pending("products", [PartitionMark(TOPIC, 0, 5)])  # no tags: held
    # Redelivered, the letter fails again and still holds its place; nothing else moves.
    again = applier.apply(conn, [corrupted, log.record(2, 3)])
    assert (again.applied, len(again.dead_letters)) == (0, 1)
    assert on_hand(conn, schema, log.product_id) == 0


def other_records(log: Log) -> list[Incoming]:
    return [
        Incoming(TOPIC, 0, 100 + n, r.headers, r.value)
        for n, r in enumerate(log.record(i, 0) for i in range(len(log.events)))
    ]


def test_a_version_gap_parks_until_it_fills(db: tuple[psycopg.Connection, str]) -> None:
    conn, schema = db
    applier, log = Applier(PRODUCTS, schema), a_log((5, 7, -2))
    # Version 2 is missing from this delivery: versions 3 and 4 wait for it.
    early = applier.apply(conn, [log.record(0, 0), log.record(2, 1), log.record(3, 2)])
    assert (early.applied, early.parked) == (1, 2)
    assert on_hand(conn, schema, log.product_id) == 0
    # The position passed version 4's id, yet a token for it must keep waiting.
    mark = PartitionMark(TOPIC, 0, log.events[3][0])
    assert read_snapshot(conn, schema, 1).pending("products", [mark]) == [mark]
    late = applier.apply(conn, [log.record(1, 0, epoch=1)])  # the gap fills (a republish)
    assert late.rewind  # first a newer epoch rewinds; reading from the start fills the gap
    filled = applier.apply(conn, [log.record(i, i, epoch=1) for i in range(4)])
    assert filled.applied == 3  # version 2, then the parked 3 and 4, in order
    assert on_hand(conn, schema, log.product_id) == 10
    assert read_snapshot(conn, schema, 2).pending("products", [mark]) == []
    again = applier.apply(conn, [log.record(2, 1, epoch=1)])
    assert (again.applied, again.duplicates) == (0, 1)


def buggy_products() -> Projection:
    def on_adjusted(cur: Any, schema: str, env: Envelope, e: StockAdjusted) -> None:
        if e.delta == 5:
            raise ValueError("the handler has a bug")
        PRODUCTS.handlers[StockAdjusted](cur, schema, env, e)

    return replace(PRODUCTS, handlers={**PRODUCTS.handlers, StockAdjusted: on_adjusted})


def test_a_statement_the_database_refuses_dead_letters_only_its_event(
    db: tuple[psycopg.Connection, str],
) -> None:
    # The fast path sends a batch's statements without waiting for each answer, so the
    # refusal arrives after later events' statements were sent: the batch must be redone
    # event by event, not applied in part nor retried forever.
    def on_adjusted(cur: Any, schema: str, env: Envelope, e: StockAdjusted) -> None:
        divisor = 0 if e.delta == 5 else 1
        cur.execute(
            f"UPDATE {schema}.products SET on_hand = (on_hand + %s) / %s,"
            " version = %s WHERE id = %s",
            (e.delta, divisor, env.aggregate_version, env.aggregate_id),
        )

    refusing = replace(PRODUCTS, handlers={**PRODUCTS.handlers, StockAdjusted: on_adjusted})
    conn, schema = db
    log, other = a_log((5, 7)), a_log((3, 4))
    outcome = Applier(refusing, schema).apply(
        conn, [log.record(i, i) for i in range(3)] + other_records(other)
    )
    assert [type(d.error).__name__ for d in outcome.dead_letters] == ["DivisionByZero"]
    assert (outcome.applied, outcome.parked) == (1 + 3, 1)
    assert on_hand(conn, schema, log.product_id) == 0
    assert on_hand(conn, schema, other.product_id) == 7


@pytest.mark.parametrize(("action", "expected"), [(REPLAY, 5 + 7 - 2), (DISCARD, 7 - 2)])
def test_releasing_a_dead_letter_applies_what_waited_behind_it_in_order(
    db: tuple[psycopg.Connection, str], action: str, expected: int
) -> None:
    conn, schema = db
    log = a_log((5, 7, -2))
    outcome = Applier(buggy_products(), schema).apply(conn, [log.record(i, i) for i in range(4)])
    assert (outcome.applied, outcome.parked, len(outcome.dead_letters)) == (1, 2, 1)
    letter = outcome.dead_letters[0].notification_id
    assert letter is not None
    # Before the fix is deployed a replay fails again: the letter keeps its place.
    failed = DeadLetterRelease(buggy_products(), schema).release(conn, letter, REPLAY)
    assert not failed.released and "the handler has a bug" in failed.error
    assert on_hand(conn, schema, log.product_id) == 0
    released = DeadLetterRelease(PRODUCTS, schema).release(conn, letter, action)
    assert (released.released, released.followers) == (True, 2)
    assert on_hand(conn, schema, log.product_id) == expected
    # The live projector carries on from the released version.
    log.add(StockAdjusted(occurred_at=datetime.now(UTC), delta=1))
    assert Applier(PRODUCTS, schema).apply(conn, [log.record(4, 4)]).applied == 1
    assert on_hand(conn, schema, log.product_id) == expected + 1
    with pytest.raises(NoSuchLetterError):
        DeadLetterRelease(PRODUCTS, schema).release(conn, letter, action)


def test_a_release_changes_rows_without_moving_the_position_and_still_changes_the_stamp(
    db: tuple[psycopg.Connection, str],
) -> None:
    # ETags (read_side/http/validators.py) come from the positions' stamp: a dead-letter
    # release changes rows but not the partition's notification id, so the stamp must also
    # name when the position row was saved, or a client would keep a stale copy on a 304.
    conn, schema = db
    log = a_log((5, 7))
    outcome = Applier(buggy_products(), schema).apply(conn, [log.record(i, i) for i in range(3)])
    letter = outcome.dead_letters[0].notification_id
    assert letter is not None
    before = read_snapshot(conn, schema, 1)
    on_hand_before = on_hand(conn, schema, log.product_id)
    assert DeadLetterRelease(PRODUCTS, schema).release(conn, letter, REPLAY).released
    after = read_snapshot(conn, schema, 2)
    assert on_hand(conn, schema, log.product_id) != on_hand_before  # rows changed
    assert after.positions == before.positions  # the notification id did not move
    assert after.stamp("products") != before.stamp("products")


def test_a_schema_version_ahead_parks_its_aggregate_until_a_release_reads_it(
    db: tuple[psycopg.Connection, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    conn, schema = db
    log = a_log((5, 7))
    records = [log.record(i, i) for i in range(3)]
    ahead = Envelope.from_record(records[1].headers, records[1].value)
    newer = replace(ahead, schema_version=2)  # written by a newer release
    records[1] = Incoming(TOPIC, 0, 1, newer.headers(datetime.now(UTC)), newer.payload)
    outcome = Applier(PRODUCTS, schema).apply(conn, records)
    assert (outcome.applied, outcome.parked, outcome.dead_letters) == (1, 2, [])
    assert on_hand(conn, schema, log.product_id) == 0
    states = {p.state for p in projection_status(conn, schema) if p.topic == TOPIC}
    assert states == {"needs upgrade"}
    assert upgrade_parked(conn, PRODUCTS, schema) == 0  # this release still cannot read it
    monkeypatch.setattr(StockAdjusted, "schema_version", 2)  # the release that can,
    monkeypatch.setitem(upcasting.UPCASTERS, ("StockAdjusted", 1), dict)  # reading v1 too
    assert upgrade_parked(conn, PRODUCTS, schema) == 1
    assert on_hand(conn, schema, log.product_id) == 12
    assert "needs upgrade" not in {p.state for p in projection_status(conn, schema)}


def test_a_large_batch_of_a_row_local_projection_writes_each_row_once(
    db: tuple[psycopg.Connection[tuple[object, ...]], str],
) -> None:
    """Two hundred stock changes of one product: one row written, not two hundred UPDATEs
    (projections/live/batch_fold.py); the row, version and position are what the statements
    would have left. A small batch keeps its statements."""
    conn, schema = db
    conn.execute(
        f"CREATE TABLE {schema}.row_writes (n int NOT NULL); INSERT INTO {schema}.row_writes"
        f" VALUES (0); CREATE FUNCTION {schema}.count_write() RETURNS trigger LANGUAGE plpgsql"
        f" AS $$ BEGIN UPDATE {schema}.row_writes SET n = n + 1; RETURN NULL; END $$;"
        f" CREATE TRIGGER counting AFTER INSERT OR UPDATE ON {schema}.products"
        f" FOR EACH ROW EXECUTE FUNCTION {schema}.count_write()"
    )
    conn.commit()

    def row_writes() -> object:
        found = conn.execute(f"SELECT n FROM {schema}.row_writes").fetchone()
        conn.commit()
        return found[0] if found else None

    log = a_log(tuple(range(1, 200)))
    records = [log.record(i, i) for i in range(len(log.events))]
    applier = Applier(PRODUCTS, schema)
    assert len(records) >= applier.fold_from_records
    assert applier.apply(conn, records).applied == 200
    assert row_writes() == 1  # created and changed 199 times in memory: one INSERT
    assert on_hand(conn, schema, log.product_id) == sum(range(1, 200))
    assert conn.execute(
        f"SELECT version FROM {schema}.products WHERE id = %s", (log.product_id,)
    ).fetchone() == (200,)
    conn.commit()

    log.add(StockAdjusted(occurred_at=datetime.now(UTC), delta=-5))
    assert Applier(PRODUCTS, schema).apply(conn, [log.record(200, 200)]).applied == 1
    assert row_writes() == 2  # the small batch's one UPDATE
    assert on_hand(conn, schema, log.product_id) == sum(range(1, 200)) - 5


class ProductRestocked(ContractEvent):
    """A type a newer release publishes: this release has no contract for it."""

    type_name = "ProductRestocked"
    context = "catalog"

    quantity: int


def on_restocked(cur: Any, schema: str, env: Envelope, e: ProductRestocked) -> None:
    on_stock_adjusted(cur, schema, env, StockAdjusted(occurred_at=e.occurred_at, delta=e.quantity))


def fold_restocked(rows: Any, env: Envelope, e: ProductRestocked) -> None:
    fold_stock_adjusted(rows, env, StockAdjusted(occurred_at=e.occurred_at, delta=e.quantity))


def test_an_unknown_type_parks_its_aggregate_until_a_release_that_knows_it(
    db: tuple[psycopg.Connection, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An old release meets a type a newer one writes (a rolling deploy): the event waits,
    and so does every later event of its aggregate, instead of being skipped and marked
    applied (the newer release would then drop it as a duplicate, for good)."""
    conn, schema = db
    log = a_log((5,))
    log.add(ProductRestocked(occurred_at=datetime.now(UTC), quantity=3))
    log.add(StockAdjusted(occurred_at=datetime.now(UTC), delta=7))
    records = [log.record(i, i) for i in range(4)]
    outcome = Applier(PRODUCTS, schema).apply(conn, records)
    assert (outcome.applied, outcome.skipped, outcome.parked) == (2, 0, 2)
    assert on_hand(conn, schema, log.product_id) == 5  # the +7 after it waits too
    [waiting] = [p for p in projection_status(conn, schema) if p.topic == TOPIC]
    assert (waiting.state, waiting.needs_upgrade) == ("needs upgrade", 1)
    assert shown_state(waiting.state, [waiting]) == "needs upgrade: ProductRestocked"
    # A read with the +7's token is not answered from the stale row.
    last = Envelope.from_record(records[3].headers, records[3].value)
    mark = PartitionMark(TOPIC, 0, last.notification_id, (aggregate_tag(log.product_id),))
    assert read_snapshot(conn, schema, 1).pending("products", [mark]) == [mark]
    assert upgrade_parked(conn, PRODUCTS, schema) == 0  # this release still cannot read it

    # The release that knows the type drains what waited, in order.
    monkeypatch.setitem(upcasting.EVENTS_BY_NAME, "ProductRestocked", ProductRestocked)
    knowing = replace(
        PRODUCTS,
        handlers={**PRODUCTS.handlers, ProductRestocked: on_restocked},
        folds={**PRODUCTS.folds, ProductRestocked: fold_restocked},
    )
    assert upgrade_parked(conn, knowing, schema) == 1
    assert on_hand(conn, schema, log.product_id) == 5 + 3 + 7
    assert "needs upgrade" not in {p.state for p in projection_status(conn, schema)}
