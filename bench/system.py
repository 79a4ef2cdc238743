"""The whole system under load: a fleet, a mixed workload over HTTP, the oracle after.

Starts embedded PostgreSQL and the broker (or uses ``EVENTSHOP_BENCH_DATABASE_URL`` and
``EVENTSHOP_BENCH_KAFKA_BOOTSTRAP_SERVERS``), runs ``eventshop run`` on them with N API
workers and M projector instances, and drives it at loopback:

- ``fixed``: an open loop at ``--rate`` operations a second (latency counted from when
  each operation was due, so queueing shows);
- ``saturation``: ``--clients`` closed-loop clients, as fast as answers come.

First ``idle`` (``--idle-seconds``, no traffic): each process kind's CPU in percent of one
core and its context switches a second, what the fleet burns looking for work. Then one
JSON line per load phase: per operation p50/p95/p99, command and query rates, command ->
visible (read with its token) p50/p99, answers that were not 2xx by status, and CPU
seconds and context switches per command by process kind (psutil and ``/proc``, from
outside). Then quiescence and every read model compared with a replay of the event store:
any difference fails the run.
``--chaos`` then runs each chaos scenario under load (bench.chaos), one line each.

Run: .venv/bin/python -m bench.system [--rate 80] [--seconds 20] [--clients 16] [--chaos]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.accounting import CpuMeter, spent
from bench.chaos import SCENARIOS, under_load
from bench.fleet import ADMIN, Fleet, postgres_root, running_fleet
from bench.oracle import check
from bench.support import percentile
from bench.tally import Tally
from bench.workload import COMMANDS, Shopper
from eventshop.embedded import EmbeddedKafka, EmbeddedPostgres
from eventshop.settings import Settings
from tests.support.stack import Servers


def summary(
    phase: str,
    tally: Tally,
    cpu: dict[str, float],
    seconds: float,
    switches: dict[str, float] | None = None,
) -> dict[str, Any]:
    commands = sum(len(v) for op, v in tally.latency.items() if op in COMMANDS)
    queries = sum(len(v) for op, v in tally.latency.items() if op not in COMMANDS)
    per_op = {
        op: {
            "n": len(v),
            "p50_ms": _ms(percentile(v, 0.5)),
            "p95_ms": _ms(percentile(v, 0.95)),
            "p99_ms": _ms(percentile(v, 0.99)),
        }
        for op, v in sorted(tally.latency.items())
    }
    visible = tally.visible or [0.0]
    not_2xx: dict[str, int] = {}
    for key, count in tally.statuses.items():
        status = key.rsplit(":", 1)[1]
        if not status.startswith("2"):
            not_2xx[status] = not_2xx.get(status, 0) + count
    return {
        "bench": "system",
        "phase": phase,
        "seconds": round(seconds, 1),
        "commands_per_s": round(commands / seconds, 1),
        "queries_per_s": round(queries / seconds, 1),
        "operations": per_op,
        "visible_p50_ms": _ms(percentile(visible, 0.5)),
        "visible_p99_ms": _ms(percentile(visible, 0.99)),
        "not_2xx_by_status": not_2xx,
        "unexpected_5xx": len(tally.unexpected),
        "transport_errors": tally.transport_errors,
        # Which operation met which error (a timeout, a reset), not just how many.
        "transport_error_kinds": dict(tally.transport_error_kinds),
        "overloaded": tally.overloaded,
        "cpu_s": cpu,
        "cpu_ms_per_command": {k: round(v * 1000 / max(commands, 1), 2) for k, v in cpu.items()},
        # Hand-offs between threads and processes, and backends woken by statements.
        "switches_per_command": {
            k: round(v / max(commands, 1), 1) for k, v in (switches or {}).items()
        },
    }


async def load_phases(fleet: Fleet, args: argparse.Namespace) -> list[dict[str, Any]]:
    shopper = Shopper(fleet.command_url, fleet.query_url)
    lines: list[dict[str, Any]] = []
    try:
        await shopper.setup(ADMIN)
        with CpuMeter(fleet.members) as meter:
            if args.idle_seconds > 0:
                lines.append(await idle_phase(meter, args.idle_seconds))
                _emit(lines[-1])
            for phase in ("fixed", "saturation"):
                before, loop = meter.mark(), asyncio.get_running_loop()
                switched, started = meter.switches(), loop.time()
                if phase == "fixed":
                    tally = await shopper.fixed_rate(args.rate, args.seconds)
                else:
                    tally = await shopper.saturate(args.clients, args.seconds)
                took = loop.time() - started
                cpu = spent(before, meter.mark())
                switches = spent(switched, meter.switches())
                lines.append(summary(phase, tally, cpu, took, switches))
                _emit(lines[-1])
        oracle = await asyncio.to_thread(check, fleet.settings)
        lines.append({"bench": "system", "phase": "oracle", **oracle})
        _emit(lines[-1])
        if args.chaos:
            for name in SCENARIOS:
                lines.append(await under_load(fleet, shopper, name, args.chaos_rate))
                _emit(lines[-1])
    finally:
        await shopper.close()
    return lines


async def idle_phase(meter: CpuMeter, seconds: float, settle: float = 3.0) -> dict[str, Any]:
    """No traffic (after the shopper's setup has settled): what each kind of process burns
    looking for work, in percent of one core. ``eventshop`` sums our processes; PostgreSQL
    and the bench's own client are shown apart."""
    await asyncio.sleep(settle)
    before, switched = meter.mark(), meter.switches()
    await asyncio.sleep(seconds)
    cpu, switches = spent(before, meter.mark()), spent(switched, meter.switches())
    busy = {kind: round(used / seconds * 100, 2) for kind, used in cpu.items()}
    ours = sum(v for k, v in busy.items() if k not in ("bench_client", "postgres"))
    return {
        "bench": "system",
        "phase": "idle",
        "seconds": seconds,
        "cpu_percent_of_one_core": busy,
        "eventshop_percent": round(ours, 2),
        "with_postgres_percent": round(ours + busy.get("postgres", 0.0), 2),
        "switches_per_s": {kind: round(n / seconds, 1) for kind, n in switches.items()},
    }


@contextmanager
def servers() -> Iterator[tuple[Servers, EmbeddedKafka | None, EmbeddedPostgres | None]]:
    database = os.environ.get("EVENTSHOP_BENCH_DATABASE_URL")
    bootstrap = os.environ.get("EVENTSHOP_BENCH_KAFKA_BOOTSTRAP_SERVERS")
    data = Path(tempfile.mkdtemp(prefix="eventshop-system-"))
    postgres = None if database else EmbeddedPostgres(data / "pg")
    broker = None if bootstrap else EmbeddedKafka()
    try:
        database = database or postgres.start()  # type: ignore[union-attr]
        bootstrap = bootstrap or broker.start()  # type: ignore[union-attr]
        yield Servers(database, bootstrap), broker, postgres
    finally:
        if broker is not None:
            broker.stop()
        if postgres is not None:
            postgres.stop()
        shutil.rmtree(data, ignore_errors=True)


@contextmanager
def measured_fleet(api_workers: int | None, projectors: int) -> Iterator[Fleet]:
    """The whole fleet on its servers, every process of it counted (PostgreSQL's too);
    ``api_workers`` None: as many as `eventshop run` starts by default."""
    if api_workers is None:
        api_workers = Settings().api_workers
    with (
        servers() as (found, broker, postgres),
        running_fleet(
            found,
            api_workers=api_workers,
            projector_processes=projectors,
            broker=broker,
            postgres=postgres,
            kafka_session_timeout_ms=6000,
        ) as fleet,
    ):
        root = postgres_root(found.database_url)
        if root is not None:
            fleet.servers["postgres"] = root
        yield fleet


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.system", description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=80.0, help="fixed phase: operations/s")
    parser.add_argument("--seconds", type=float, default=20.0, help="each load phase")
    parser.add_argument("--clients", type=int, default=16, help="saturation phase clients")
    parser.add_argument(
        "--api-workers", type=int, default=None, help="per API (default: as `eventshop run`)"
    )
    parser.add_argument("--projectors", type=int, default=2, help="instances per group")
    parser.add_argument("--idle-seconds", type=float, default=20.0, help="first, no traffic")
    parser.add_argument("--chaos", action="store_true", help="then every chaos scenario")
    parser.add_argument("--chaos-rate", type=float, default=30.0)
    args = parser.parse_args(argv)
    with measured_fleet(args.api_workers, args.projectors) as fleet:
        lines = asyncio.run(load_phases(fleet, args))
    failed = [line["phase"] for line in lines if line.get("ok") is False]
    failed += [line["phase"] for line in lines if line.get("unexpected_5xx")]
    if failed:
        print(f"bench.system: failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def _emit(line: dict[str, Any]) -> None:
    print(json.dumps(line), flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
