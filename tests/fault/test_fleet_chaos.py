"""The whole system as a fleet, under load, broken on purpose (bench.system's short form).

A real ``eventshop run`` with two workers per API and two projector instances per group,
driven over HTTP by the mixed workload. Each chaos case kills real processes (SIGKILL, or
a named crash point armed in the running fleet), cuts PostgreSQL connections, or SIGKILLs
the broker, during load; then the oracle: quiescence, and every read model equal to a
replay of the event store. No 5xx but designed 503s (docs/architecture.md, guarantees).
"""

from __future__ import annotations

import asyncio
import json
from argparse import Namespace
from collections.abc import Iterator
from typing import Any

import pytest

from bench.chaos import under_load
from bench.fleet import ADMIN, Fleet, running_fleet
from bench.system import load_phases
from bench.workload import Shopper
from contracts.readmodels import SOURCES
from eventshop.embedded import EmbeddedKafka
from tests.support.postgres import own_postgres
from tests.support.stack import Servers

RATE = 20.0  # operations a second during each chaos case


@pytest.fixture(scope="module")
def fleet(servers: Servers) -> Iterator[Fleet]:
    with running_fleet(servers, api_workers=2, projector_processes=2) as fleet:
        yield fleet


def chaos(fleet: Fleet, name: str) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        shopper = Shopper(fleet.command_url, fleet.query_url)
        try:
            await shopper.setup(ADMIN, customers=2, products=3)
            return await under_load(fleet, shopper, name, RATE)
        finally:
            await shopper.close()

    return asyncio.run(run())


def test_the_system_under_load_matches_its_replay(fleet: Fleet) -> None:
    args = Namespace(
        rate=RATE, seconds=3.0, clients=4, chaos=False, chaos_rate=RATE, idle_seconds=0.0
    )
    fixed, saturation, oracle = asyncio.run(load_phases(fleet, args))
    for phase in (fixed, saturation):
        assert phase["unexpected_5xx"] == 0, phase
        assert phase["operations"]["place_order"]["n"] > 0
        assert phase["visible_p50_ms"] > 0
        for kind in ("command_api", "query_api", "relay", "projector"):
            assert phase["cpu_s"][kind] > 0, f"no CPU accounted to {kind}: {phase['cpu_s']}"
    assert oracle["ok"], json.dumps(oracle)


@pytest.mark.parametrize(
    "name",
    [
        "relay_crashes",
        "projector_crashes",
        "projector_instance_killed",
        "api_worker_killed",
        "pg_connection_dropped",
    ],
)
def test_chaos_under_load_loses_nothing(fleet: Fleet, name: str) -> None:
    result = chaos(fleet, name)
    assert result["ok"], json.dumps(result, indent=1)
    assert result["oracle"]["ok"]


def test_the_broker_sigkilled_for_15_seconds() -> None:
    """On a broker and a PostgreSQL of its own: the module's two-worker fleet is still up
    while this one runs, and both fleets' pools under load came near the session server's
    100 connections (idle, 33 + 21; one CI run failed its oracle's connection with "too
    many clients")."""
    broker = EmbeddedKafka()
    with own_postgres("eventshop-brokerchaos-") as (_, database_url):
        try:
            servers = Servers(database_url, broker.start())
            with running_fleet(servers, api_workers=1, broker=broker) as fleet:
                result = chaos(fleet, "broker_killed")
        finally:
            broker.stop()
    assert result["ok"], json.dumps(result, indent=1)
    # Commands and plain queries never notice the broker; only reads that wait for a
    # command's token may (its event cannot reach the read model): a designed 503.
    assert set(result["answers"]["unavailable_by_op"]) <= {"token_read"}, result["answers"]
    assert result["outage_shown_after_s"] is not None
    assert result["drained_after_return_s"] <= 15


@pytest.mark.parametrize("name", ["postgres_killed", "postgres_stopped"])
def test_postgres_down_for_10_seconds_under_load(kafka_bootstrap: str, name: str) -> None:
    """PostgreSQL SIGKILLed (and, separately, shut down fast) for 10 s, then started again
    as an external server's supervisor would: every process finds it again on its own."""
    with own_postgres("eventshop-pgchaos-") as (postgres, database_url):
        servers = Servers(database_url, kafka_bootstrap)
        with running_fleet(servers, api_workers=2, postgres=postgres) as fleet:
            result = chaos(fleet, name)
    assert result["ok"], json.dumps(result, indent=1)
    assert result["during"] == {"status": 503, "code": "DATABASE_UNAVAILABLE", "retry_after": True}
    assert result["answers"]["unavailable"] >= 1  # the load met the outage, and was told so


def test_partitions_of_one_projection_are_owned_by_both_instances(fleet: Fleet) -> None:
    owners: dict[str, set[str]] = {}
    for row in fleet.partitions():
        if row["owner"]:
            owners.setdefault(row["projection"], set()).add(row["owner"])
    # Every read model's group spreads its partitions over both instances (the mail
    # intake runs in the one reactor process).
    assert all(len(owners.get(name, ())) == 2 for name in SOURCES), owners
