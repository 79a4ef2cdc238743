"""Two consumers that own a partition at once for a moment (a rebalance) apply each event
once: a batch locks its partitions' position rows first and reads its aggregates' versions
after, in a statement of its own, so the second owner reads what the first committed
(projections/live/positions.py). Merging the lock and the read into one statement would
read them in a snapshot taken before the wait: the second owner would apply again what
the first had."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from eventshop import wiring
from projections.live.applier import Applier
from projections.models.products import PRODUCTS
from projections.records import BatchOutcome
from tests.integration.test_applier import a_log, on_hand
from tests.support.stack import Servers, isolated_settings


@pytest.fixture
def db(servers: Servers) -> Iterator[tuple[psycopg.Connection[Any], str, str]]:
    settings = isolated_settings(servers)
    wiring.migrate(settings)
    with psycopg.connect(servers.database_url) as conn:
        yield conn, settings.read_schema, servers.database_url


def test_a_second_owner_waits_for_the_first_and_sees_what_it_applied(
    db: tuple[psycopg.Connection[Any], str, str],
) -> None:
    conn, schema, url = db
    log = a_log((5, 7, -2))
    records = [log.record(i, i) for i in range(4)]
    first, second = Applier(PRODUCTS, schema), Applier(PRODUCTS, schema)
    first.apply(conn, records[:1])  # the product exists
    holding, release = threading.Event(), threading.Event()

    def hold(_: BatchOutcome) -> None:  # the first owner, inside its transaction
        holding.set()
        assert release.wait(10)

    owner = threading.Thread(target=first.apply, args=(conn, records[1:3], hold))
    owner.start()
    assert holding.wait(10)
    outcomes: list[BatchOutcome] = []
    with psycopg.connect(url) as other:
        rival = threading.Thread(target=lambda: outcomes.append(second.apply(other, records)))
        rival.start()
        rival.join(0.5)
        assert rival.is_alive(), "the second owner must wait for the first one's locks"
        release.set()
        owner.join(10)
        rival.join(10)
    [outcome] = outcomes
    assert (outcome.applied, outcome.duplicates) == (1, 3)
    assert on_hand(conn, schema, log.product_id) == 5 + 7 - 2
