"""Records read from the event store carry no Kafka offset (-1): a rebuild's catch-up
under the swap's lock applies them through the live applier (projections/rebuild/rebuilder.py),
and every one of them counts, though all share one (topic, partition, offset)."""

from __future__ import annotations

import psycopg

from projections.live.applier import Applier
from projections.models.products import PRODUCTS
from tests.integration.test_applier import a_log, on_hand


def test_a_batch_of_store_records_applies_each_of_them(
    db: tuple[psycopg.Connection[tuple[object, ...]], str],
) -> None:
    conn, schema = db
    log = a_log((5, 7, -2))
    records = [log.record(i, offset=-1) for i in range(4)]
    outcome = Applier(PRODUCTS, schema).apply(conn, records)
    assert (outcome.applied, outcome.parked, outcome.duplicates) == (4, 0, 0)
    assert on_hand(conn, schema, log.product_id) == 10
    parked = conn.execute(f"SELECT count(*) FROM {schema}.projection_parked").fetchone()
    assert parked == (0,)
