"""Chaos under load: each scenario breaks a running fleet while the workload runs.

The scenarios are in :mod:`bench.chaos_processes` (the fleet's own processes killed at
named crash points or by SIGKILL) and :mod:`bench.chaos_servers` (PostgreSQL and the
broker). Every one is held to the strict oracle (:mod:`bench.oracle`): quiescence on every
partition of every consumer group, every read model and the mail intake equal to a replay,
each sent mail delivered once, and the clients' answers judged against the fault's window —
the time the scenario ran, from the fault to its recovery.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.chaos_processes import (
    api_worker_killed,
    projector_crashes,
    projector_instance_killed,
    relay_crashes,
)
from bench.chaos_servers import (
    broker_killed,
    pg_connection_dropped,
    postgres_killed,
    postgres_stopped,
)
from bench.fleet import Fleet
from bench.oracle import check, judge_answers
from bench.workload import Shopper

Scenario = Callable[[Fleet], dict[str, Any]]


@dataclass(frozen=True)
class Case:
    run: Scenario
    #: It kills a process that serves clients: their connections may drop inside the window.
    drops_connections: bool = False
    #: It can cut the mail sender between the SMTP server's 250 and the commit of "sent":
    #: the documented crash window (docs/operations.md, "Mail"), so a mail may arrive twice.
    mail_may_repeat: bool = False


SCENARIOS: dict[str, Case] = {
    "relay_crashes": Case(relay_crashes),
    "projector_crashes": Case(projector_crashes),
    "projector_instance_killed": Case(projector_instance_killed),
    "api_worker_killed": Case(api_worker_killed, drops_connections=True),
    "pg_connection_dropped": Case(pg_connection_dropped),
    "broker_killed": Case(broker_killed),
    "postgres_killed": Case(postgres_killed, mail_may_repeat=True),
    "postgres_stopped": Case(postgres_stopped, mail_may_repeat=True),
}


async def under_load(fleet: Fleet, shopper: Shopper, name: str, rate: float) -> dict[str, Any]:
    """Run case ``name`` while ``shopper`` offers ``rate`` operations a second; then the
    strict oracle. One JSON-able line with the case's own figures and every count."""
    case = SCENARIOS[name]
    stop = asyncio.Event()
    load = asyncio.create_task(shopper.fixed_rate(rate, 3600, until=stop))
    try:
        await asyncio.sleep(1.0)
        started = time.monotonic()
        detail = await asyncio.to_thread(case.run, fleet)
        window = (started, time.monotonic())
        await asyncio.sleep(1.0)
    finally:
        stop.set()
        tally = await load
    oracle = await asyncio.to_thread(check, fleet.settings)
    answers = judge_answers(tally, window, transport_errors_allowed=case.drops_connections)
    mail = oracle["mail"]
    mail_ok = case.mail_may_repeat or mail["repeats"] == 0
    ok = detail.pop("ok", True) and oracle["ok"] and answers.pop("ok") and mail_ok
    return {
        "phase": f"chaos:{name}",
        "ok": ok,
        **detail,
        "window_s": round(window[1] - window[0], 2),
        "operations": sum(tally.statuses.values()),
        "answers": answers,
        "unexpected_5xx": tally.unexpected[:5],
        "mail": mail,
        "oracle": {
            "ok": oracle["ok"],
            "quiescent_after_s": oracle["quiescent_after_s"],
            "differing": {n: m["differing"] for n, m in oracle["models"].items() if m["differing"]},
        },
    }
