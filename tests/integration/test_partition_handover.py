"""Two consumers that own a partition at once for a moment (a rebalance) apply each event
once: a batch locks its partitions' position rows first and reads its aggregates' versions
after, in a statement of its own, so the second owner reads what the first committed
(projections/live/positions.py). Merging the lock and the read into one statement would
read them in a snapshot taken before the wait: the second owner would apply again what
the first had."""

from __future__ import annotations

import threading
from typing import Any

import psycopg

from projections.live.applier import Applier
from projections.models.products import PRODUCTS
from projections.records import BatchOutcome
from tests.integration.test_applier import a_log, on_hand
from tests.support.stack import Servers


def test_a_second_owner_waits_for_the_first_and_sees_what_it_applied(
    db: tuple[psycopg.Connection[Any], str], servers: Servers
) -> None:
    conn, schema = db
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
    with psycopg.connect(servers.database_url) as other:
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
