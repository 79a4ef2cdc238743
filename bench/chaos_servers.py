"""Chaos among the servers the fleet depends on: PostgreSQL connections cut by a proxy
(``tests.support.pg_proxy``), PostgreSQL SIGKILLed or shut down, the broker SIGKILLed.
Each server comes back as its operator's supervisor would bring it back; every process of
the fleet must find it again on its own."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import httpx2

import eventshop.operations.status as operations
from bench.chaos_support import create, create_retrying, events_per_create, sku, wait
from bench.fleet import Fleet
from bench.oracle import quiesce
from bench.workload import CLIENT_TIMEOUT_SECONDS
from eventshop.embedded import free_port
from tests.support.events import events_mentioning, ready
from tests.support.pg_proxy import Moment, PgProxy


def pg_connection_dropped(fleet: Fleet) -> dict[str, Any]:
    """A command's connection cut before and after its COMMIT reached PostgreSQL."""
    proxy = PgProxy(fleet.database_url)
    port = free_port()
    worker = subprocess.Popen(
        [sys.executable, "-m", "eventshop.cli", "serve", "command"],
        env={**fleet.env, "EVENTSHOP_DATABASE_URL": proxy.url, "EVENTSHOP_COMMAND_PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url, cases = f"http://127.0.0.1:{port}", []
    try:
        wait(lambda: ready(f"{url}/readyz"), 60)
        admin = fleet.admin_token()
        moments: tuple[Moment, ...] = ("before", "after")
        for n, moment in enumerate(moments, start=1):
            cases.append(_dropped_commit(fleet, proxy, url, admin, moment=moment, n=n))
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        proxy.close()
    return {"cases": cases, "ok": all(c["ok"] for c in cases)}


def broker_killed(fleet: Fleet, seconds: float = 15.0) -> dict[str, Any]:
    """The broker SIGKILLed for ``seconds``: commands go on, lag shows it, then drains."""
    broker = fleet.broker
    if broker is None:
        return {"ok": False, "error": "the fleet does not own its broker"}
    broker.kill()
    killed, shown = time.monotonic(), None
    while time.monotonic() - killed < seconds:
        if shown is None and _outage_shown(fleet):
            shown = round(time.monotonic() - killed, 2)
        time.sleep(0.5)
    broker.start()
    fleet.servers["broker"] = broker.pid or 0
    drained = quiesce(fleet.settings, 60)
    return {
        "down_s": seconds,
        "outage_shown_after_s": shown,
        "drained_after_return_s": drained,
        "ok": shown is not None and drained is not None and drained <= 15.0,
    }


def postgres_killed(fleet: Fleet, seconds: float = 10.0) -> dict[str, Any]:
    """PostgreSQL SIGKILLed under load and kept down ``seconds``, then started again."""
    postgres = fleet.postgres
    if postgres is None:
        return {"ok": False, "error": "the fleet does not own its database"}
    return _postgres_down(fleet, postgres.kill, seconds)


def postgres_stopped(fleet: Fleet, seconds: float = 10.0) -> dict[str, Any]:
    """PostgreSQL shut down cleanly (fast: sessions ended) for ``seconds``, then started."""
    postgres = fleet.postgres
    if postgres is None:
        return {"ok": False, "error": "the fleet does not own its database"}
    return _postgres_down(fleet, postgres.stop_fast, seconds)


def _postgres_down(fleet: Fleet, stop: Callable[[], None], seconds: float) -> dict[str, Any]:
    """During the outage a keyed command answers 503 with Retry-After within the client's
    timeout, and readiness says the database is down; afterwards the same key's retry
    gets one result, and the whole fleet drains without an operator."""
    postgres = fleet.postgres
    assert postgres is not None
    admin = fleet.admin_token()  # signing in needs the database
    stop()
    down = time.monotonic()
    marker, key = sku("D"), uuid4().hex
    try:
        during = create(fleet.command_url, admin, marker, key, timeout=CLIENT_TIMEOUT_SECONDS)
        answered = (during.status_code, during.json().get("code"), "retry-after" in during.headers)
    except httpx2.TransportError as error:
        answered = (0, type(error).__name__, False)
    took = round(time.monotonic() - down, 2)
    not_ready = [url for url in (fleet.command_url, fleet.query_url) if not ready(f"{url}/readyz")]
    time.sleep(max(0.0, seconds - (time.monotonic() - down)))
    wait(_started(postgres), 60)
    fleet.servers["postgres"] = postgres.pid or 0
    retried = create_retrying(fleet.command_url, admin, marker, key)
    events, expected = events_mentioning(fleet.settings, marker), events_per_create(fleet, admin)
    drained = quiesce(fleet.settings, 60)
    return {
        "down_s": seconds,
        "during": {"status": answered[0], "code": answered[1], "retry_after": answered[2]},
        "during_answered_after_s": took,
        "not_ready_during": len(not_ready),
        "retry_status": retried.status_code,
        "events_for_the_command": events,
        "events_per_create": expected,
        "drained_after_return_s": drained,
        "ok": answered == (503, "DATABASE_UNAVAILABLE", True)
        and took < CLIENT_TIMEOUT_SECONDS
        and len(not_ready) == 2
        and retried.status_code == 201
        and events == expected
        and drained is not None,
    }


def _started(postgres: Any) -> Callable[[], bool]:
    def started() -> bool:
        try:
            postgres.ensure_running()
        except Exception:  # the killed server's backends may linger: try again
            return False
        return postgres.pid is not None

    return started


def _dropped_commit(
    fleet: Fleet, proxy: PgProxy, url: str, admin: str, *, moment: Moment, n: int
) -> dict[str, Any]:
    marker, key = sku("P"), uuid4().hex
    proxy.drop(moment, key.encode())
    first = create(url, admin, marker, key)
    proxy.wait_dropped(n)
    retried = create_retrying(fleet.command_url, admin, marker, key)
    events, expected = events_mentioning(fleet.settings, marker), events_per_create(fleet, admin)
    return {
        "moment": moment,
        "first_status": first.status_code,
        "retry_after": first.headers.get("Retry-After"),
        "retry_status": retried.status_code,
        "events_for_the_command": events,
        "events_per_create": expected,
        "ok": (200 <= first.status_code < 300 or first.status_code == 503)
        and retried.status_code == 201
        and events == expected,
    }


def _outage_shown(fleet: Fleet) -> bool:
    relay = operations.relay_status(fleet.settings)
    rows = fleet.partitions()
    return relay["unpublished_notifications"] > 0 and any(
        r["state"] != "live" or r["relay_backlog"] > 0 for r in rows
    )
