"""A bench fleet that ended well leaves nothing on its servers: ``bench.system`` and
``bench.throughput`` may run against an external PostgreSQL and broker
(``EVENTSHOP_BENCH_DATABASE_URL``), which must not collect a pair of schemas and a set of
topics each run (docs/benchmarks.md)."""

from __future__ import annotations

import psycopg
from kafka import KafkaAdminClient

from bench.fleet import running_fleet
from eventshop.settings import Settings
from tests.support.stack import Servers


def schemas(settings: Settings) -> set[str]:
    with psycopg.connect(settings.database_url or "") as conn:
        rows = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s)",
            ([settings.read_schema, settings.event_schema],),
        ).fetchall()
    return {str(name) for (name,) in rows}


def topics(settings: Settings) -> set[str]:
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    try:
        return {t for t in admin.list_topics() if t.startswith(settings.topic_prefix)}
    finally:
        admin.close()


def test_a_fleet_that_ended_leaves_no_schema_and_no_topic(servers: Servers) -> None:
    with running_fleet(servers, api_workers=1) as fleet:
        settings = fleet.settings
        assert schemas(settings) == {settings.read_schema, settings.event_schema}
        assert topics(settings), "the fleet's relay made its topics"
    assert schemas(settings) == set()
    assert topics(settings) == set()
