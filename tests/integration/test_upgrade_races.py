"""Events parked as "needs upgrade" while a rolling deploy's releases share a group
(docs/operations.md, "Rolling deploys"): every instance of the newer release looks for
them every few seconds, and a partition can move to it and bring the parked event back
as a record. Whoever gets there first applies it; nobody applies it twice or fails.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from contracts import upcasting
from contracts.envelope import Envelope
from contracts.events import StockAdjusted
from projections.live.applier import Applier
from projections.live.release import DeadLetterRelease, upgrade_parked
from projections.models.products import PRODUCTS
from projections.records import Incoming
from tests.integration.test_applier import TOPIC, Log, a_log, on_hand
from tests.support.stack import Servers


def written_ahead(log: Log, index: int) -> Incoming:
    """``log``'s record ``index`` as a newer release writes it (schema version 2)."""
    record = log.record(index, index)
    newer = replace(Envelope.from_record(record.headers, record.value), schema_version=2)
    return Incoming(TOPIC, 0, index, newer.headers(datetime.now(UTC)), newer.payload)


def the_newer_release(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process now reads StockAdjusted v2 (and v1, upcast)."""
    monkeypatch.setattr(StockAdjusted, "schema_version", 2)
    monkeypatch.setitem(upcasting.UPCASTERS, ("StockAdjusted", 1), dict)


def parked(conn: psycopg.Connection[Any], schema: str, log: Log) -> list[tuple[int, str]]:
    """``log``'s aggregate's parked events (the module's tests share one schema)."""
    return conn.execute(
        f"SELECT version, reason FROM {schema}.projection_parked WHERE aggregate_id = %s"
        " ORDER BY version",
        (log.product_id,),
    ).fetchall()


def test_a_parked_event_a_newer_instance_met_again_is_not_applied_twice(
    db: tuple[psycopg.Connection[Any], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An old instance parks v2 and what follows; the partition moves to a new instance
    that reads those records again (its offsets were behind) and applies them in order.
    The parked row is stale then: releasing it must not apply it again, nor move the
    aggregate's version back (a later event would then wait behind a gap for good)."""
    conn, schema = db
    log = a_log((5, 7, -2, 4))
    records = [log.record(i, i) for i in range(5)]
    records[2] = written_ahead(log, 2)
    outcome = Applier(PRODUCTS, schema).apply(conn, records[:4])  # the old release
    assert (outcome.applied, outcome.parked) == (2, 2)
    assert parked(conn, schema, log) == [(3, "needs_upgrade"), (4, "gap")]

    the_newer_release(monkeypatch)
    again = Applier(PRODUCTS, schema).apply(conn, records[:4])  # read again, in order
    assert (again.applied, again.duplicates) == (2, 3)  # v3, and v4 taken from behind it
    assert on_hand(conn, schema, log.product_id) == 5 + 7 - 2
    assert parked(conn, schema, log) == [(3, "needs_upgrade")]  # what the old release left

    upgrade_parked(conn, PRODUCTS, schema)  # the stale row goes; nothing applies twice
    assert parked(conn, schema, log) == []
    later = Applier(PRODUCTS, schema).apply(conn, records[4:])
    assert (later.applied, later.parked) == (1, 0)
    assert on_hand(conn, schema, log.product_id) == 5 + 7 - 2 + 4


def test_an_event_another_instance_released_first_is_passed_over(
    db: tuple[psycopg.Connection[Any], str],
    servers: Servers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two new instances list the same parked events; one releases an event between the
    other's listing and its release. The other goes on (it used to raise, which tore its
    consumer down and made the whole group rebalance)."""
    conn, schema = db
    log = a_log((5, 7))
    records = [log.record(i, i) for i in range(3)]
    records[1] = written_ahead(log, 1)
    Applier(PRODUCTS, schema).apply(conn, records)
    assert parked(conn, schema, log) == [(2, "needs_upgrade"), (3, "gap")]

    the_newer_release(monkeypatch)
    release = DeadLetterRelease.release

    def the_other_instance_first(self: DeadLetterRelease, c: Any, *args: Any) -> Any:
        with psycopg.connect(servers.database_url) as other:
            assert release(self, other, *args).released
        return release(self, c, *args)

    monkeypatch.setattr(DeadLetterRelease, "release", the_other_instance_first)
    assert upgrade_parked(conn, PRODUCTS, schema) == 0  # released, but not by this one
    assert parked(conn, schema, log) == []
    assert on_hand(conn, schema, log.product_id) == 12
