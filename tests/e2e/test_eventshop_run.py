"""``eventshop run``: the whole system as a user starts it, stopped with Ctrl-C, no orphans."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx2
import psutil
import pytest

from eventshop.embedded import free_port
from tests.support.events import ready
from tests.support.stack import TEST_SECRET, Servers, eventually

TOKEN = "X-Consistency-Token"


def clean_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTSHOP_")}
    env.update(values)
    return env


def configured_env(servers: Servers, name: str, **values: str) -> dict[str, str]:
    """``eventshop run`` on the session's servers, in schemas, topics and groups of its own."""
    tag = f"{name}{uuid4().hex[:8]}"
    return clean_env(
        EVENTSHOP_DATABASE_URL=servers.database_url,
        EVENTSHOP_KAFKA_BOOTSTRAP_SERVERS=servers.kafka_bootstrap_servers,
        EVENTSHOP_EVENT_SCHEMA=f"es_{tag}",
        EVENTSHOP_READ_SCHEMA=f"rm_{tag}",
        EVENTSHOP_TOPIC_PREFIX=f"{tag}.",
        EVENTSHOP_CONSUMER_GROUP_PREFIX=tag,
        # Off the embedded servers the development secret is refused.
        EVENTSHOP_JWT_SECRET=TEST_SECRET,
        **values,
    )


def fleet_env(
    servers: Servers, name: str, command: int, query: int, **values: str
) -> dict[str, str]:
    """``configured_env`` for a run on these API ports, its other listeners free or off."""
    return configured_env(
        servers,
        name,
        **on_ports(command, query),
        EVENTSHOP_KAFKA_SESSION_TIMEOUT_MS="2000",
        **values,
    )


def on_ports(command: int, query: int) -> dict[str, str]:
    """A run's API ports; its gateway and mailbox on free ports; every probe off."""
    probes = ("RELAY", "PROJECTOR", "SWEEPER", "REACTOR", "COMMAND", "QUERY")
    return {
        "EVENTSHOP_COMMAND_PORT": str(command),
        "EVENTSHOP_QUERY_PORT": str(query),
        "EVENTSHOP_GATEWAY_PORT": str(free_port()),
        "EVENTSHOP_SMTP_PORT": str(free_port()),
        **{f"EVENTSHOP_{probe}_PROBE_PORT": "0" for probe in probes},
    }


def exercise_and_stop(env: dict[str, str], during: Callable[[], None] = lambda: None) -> str:
    """Run ``eventshop run``, use it as a user would, call ``during``, stop it with Ctrl-C."""
    command, query = free_port(), free_port()
    relay_probe, projector_probe, sweeper_probe = free_port(), free_port(), free_port()
    reactor_probe, command_probe, query_probe = free_port(), free_port(), free_port()
    env = {
        **env,
        "EVENTSHOP_COMMAND_PORT": str(command),
        "EVENTSHOP_QUERY_PORT": str(query),
        "EVENTSHOP_GATEWAY_PORT": str(free_port()),
        "EVENTSHOP_SMTP_PORT": str(free_port()),
        "EVENTSHOP_RELAY_PROBE_PORT": str(relay_probe),
        "EVENTSHOP_PROJECTOR_PROBE_PORT": str(projector_probe),
        "EVENTSHOP_SWEEPER_PROBE_PORT": str(sweeper_probe),
        "EVENTSHOP_REACTOR_PROBE_PORT": str(reactor_probe),
        "EVENTSHOP_COMMAND_PROBE_PORT": str(command_probe),
        "EVENTSHOP_QUERY_PROBE_PORT": str(query_probe),
        "EVENTSHOP_API_WORKERS": "1",  # so worker 0's probe is the port chosen here
        "EVENTSHOP_KAFKA_SESSION_TIMEOUT_MS": "2000",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "eventshop.cli", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        eventually(lambda: ready(f"http://127.0.0.1:{command}/readyz"), timeout=60)
        eventually(lambda: ready(f"http://127.0.0.1:{query}/readyz"), timeout=60)
        email, password = f"run-{uuid4().hex[:6]}@example.com", "correct-horse-battery"
        created = httpx2.post(
            f"http://127.0.0.1:{command}/customers",
            json={"email": email, "name": "Runner", "password": password},
        )
        assert created.status_code == 201, created.text
        login = httpx2.post(
            f"http://127.0.0.1:{command}/auth/token",
            data={"username": email, "password": password},
        )
        bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
        url = f"http://127.0.0.1:{query}/customers/me"

        def read() -> httpx2.Response | None:
            # Right after start the projector may still be joining its consumer group:
            # the query then answers 503 + Retry-After, as designed; a client retries.
            response = httpx2.get(
                url, headers={TOKEN: created.headers[TOKEN], **bearer}, timeout=10
            )
            assert response.status_code in (200, 503), response.text
            return response if response.status_code == 200 else None

        response = eventually(read, timeout=30)
        assert response is not None
        assert response.json()["name"] == "Runner"
        for probe in (relay_probe, projector_probe, sweeper_probe):
            eventually(partial(ready, f"http://127.0.0.1:{probe}/healthz"), timeout=30)
        # The APIs' metrics are on their workers' probe ports, never on the public ones.
        api_metrics = httpx2.get(f"http://127.0.0.1:{command_probe}/metrics").text
        assert 'route="/customers"' in api_metrics
        assert (
            "eventshop_projection_lag_events"
            in httpx2.get(f"http://127.0.0.1:{query_probe}/metrics").text
        )
        assert httpx2.get(f"http://127.0.0.1:{command}/metrics").status_code == 404
        metrics = httpx2.get(f"http://127.0.0.1:{relay_probe}/metrics").text
        assert "eventshop_relay_published_total" in metrics
        projector_metrics = httpx2.get(f"http://127.0.0.1:{projector_probe}/metrics").text
        assert 'eventshop_projector_applied_total{name="customers"}' in projector_metrics
        # Batch latency as a sum beside the batch count (their rates' ratio is the mean).
        for series in ("batch_seconds_total", "batches_total", "parked_total"):
            assert f'eventshop_projector_{series}{{name="customers"}}' in projector_metrics
        assert "eventshop_relay_batches_total" in metrics
        assert "eventshop_relay_last_batch_size" in metrics
        # The mail reactor sends the registration's welcome mail, and counts it.
        reactor_metrics = f"http://127.0.0.1:{reactor_probe}/metrics"
        eventually(
            lambda: (
                'eventshop_reactor_sent_total{name="mail"} 1.0' in httpx2.get(reactor_metrics).text
            ),
            timeout=30,
        )
        # Its intake consumes in the projectors' processing group (EVENTSHOP_MAIL_INTAKE).
        projector_metrics = httpx2.get(f"http://127.0.0.1:{projector_probe}/metrics").text
        assert 'eventshop_projector_applied_total{name="mail"}' in projector_metrics
        # Ready once every projector's consumer has its partitions (each group joins on its own).
        eventually(partial(ready, f"http://127.0.0.1:{projector_probe}/readyz"), timeout=60)
        children = psutil.Process(process.pid).children(recursive=True)
        assert len(children) >= 4
        during()
    finally:
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=60)[0].decode()
    assert process.returncode == 0, output
    assert "eventshop is running" in output
    assert "Admin login: " in output
    assert "eventshop stopped" in output
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    return output


def test_run_on_configured_servers(servers: Servers) -> None:
    tag = uuid4().hex[:8]
    given = f"given-{uuid4().hex}"
    output = exercise_and_stop(
        configured_env(
            servers,
            "run",
            EVENTSHOP_ADMIN_EMAIL=f"admin-{tag}@example.com",
            EVENTSHOP_ADMIN_PASSWORD=given,
        )
    )
    assert f"admin-{tag}@example.com" in output
    assert given not in output  # a password it was given is never printed


def operator(checkout: Path, *args: str) -> Any:
    """``eventshop <args> --json`` in ``checkout`` with no EVENTSHOP_* variable at all."""
    done = subprocess.run(
        [sys.executable, "-m", "eventshop.cli", *args, "--json"],
        env=clean_env(),
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.slow
def test_run_with_no_configuration_starts_its_own_servers(tmp_path: Path) -> None:
    runtime = tmp_path / ".eventshop" / "runtime.json"

    def the_operator_cli_finds_the_stack() -> None:
        assert runtime.stat().st_mode & 0o777 == 0o600
        listed = operator(tmp_path, "projections", "list")
        assert {row["projection"] for row in listed} == {
            *("customers", "products", "orders", "sales"),
            "mail",  # the mail reactor's intake, beside the read models
        }
        eventually(lambda: operator(tmp_path, "mail", "status")["sent"] >= 1, timeout=30)
        [welcome] = operator(tmp_path, "mail", "list")
        assert welcome["subject"] == "Welcome to eventshop, Runner"
        assert operator(tmp_path, "relay", "status")["active_relay"] is True
        assert operator(tmp_path, "dlq", "list") == []
        # Every name the list shows verifies (the mail intake: its records against a replay).
        for row in listed:
            verified = operator(tmp_path, "projections", "verify", row["projection"])
            assert all(table["equal"] for table in verified), (row["projection"], verified)

    output = exercise_and_stop(
        clean_env(
            EVENTSHOP_DATA_DIR=str(tmp_path / ".eventshop"),
            EVENTSHOP_EMBEDDED_KAFKA_PORT=str(free_port()),
        ),
        during=the_operator_cli_finds_the_stack,
    )
    assert not runtime.exists(), "removed when the run stops"
    assert "PostgreSQL   " in output and "host=" in output  # where to point psql
    assert (tmp_path / ".eventshop" / "pg" / "PG_VERSION").exists()
    credentials = tmp_path / ".eventshop" / "admin-credentials.json"
    assert credentials.stat().st_mode & 0o777 == 0o600


def _start_run(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "eventshop.cli", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _stop_run(process: subprocess.Popen[bytes]) -> str:
    process.send_signal(signal.SIGINT)
    output = process.communicate(timeout=60)[0].decode()
    assert process.returncode == 0, output
    return output


@pytest.mark.slow
def test_run_outlives_its_postgres_and_starts_again_at_once(tmp_path: Path) -> None:
    """The embedded PostgreSQL SIGKILLed under `eventshop run`: the run starts it again and
    commands succeed without an operator. Then Ctrl-C, and a new run on the same ports right
    away: the stopped run's TIME_WAIT connections must not count as a port in use."""
    command, query = free_port(), free_port()
    env = clean_env(
        EVENTSHOP_DATA_DIR=str(tmp_path / ".eventshop"),
        EVENTSHOP_EMBEDDED_KAFKA_PORT=str(free_port()),
        **on_ports(command, query),
        EVENTSHOP_API_WORKERS="1",
        EVENTSHOP_REGISTER_LIMIT="1000",  # the test registers until the database is back
    )
    base = f"http://127.0.0.1:{command}"

    def register(client: httpx2.Client) -> int:
        body = {
            "email": f"pg-{uuid4().hex[:8]}@example.com",
            "name": "Pg",
            "password": "pw-12345678",
        }
        try:
            return client.post(f"{base}/customers", json=body, timeout=10).status_code
        except httpx2.TransportError:
            return 0

    process = _start_run(env)
    try:
        eventually(lambda: ready(f"{base}/readyz"), timeout=60)
        with httpx2.Client() as client:  # one kept-alive connection, as a real client
            assert register(client) == 201
            postmaster = int(
                (tmp_path / ".eventshop" / "pg" / "postmaster.pid").read_text().split()[0]
            )
            os.kill(postmaster, signal.SIGKILL)
            during = register(client)
            assert during in (201, 503), during  # 503 DATABASE_UNAVAILABLE, never a hang
            eventually(lambda: register(client) == 201, timeout=30)
    finally:
        output = _stop_run(process)
    assert "embedded PostgreSQL restarted" in output

    again = _start_run(env)  # at once: the old run's sockets are still in TIME_WAIT
    try:
        eventually(lambda: ready(f"{base}/readyz") or again.poll() is not None, timeout=60)
        assert again.poll() is None, again.communicate()[0].decode()
    finally:
        _stop_run(again)
