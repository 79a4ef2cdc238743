"""Throughput of the live path, each figure against a limit measured in the same run.

On embedded PostgreSQL and the broker (or ``EVENTSHOP_BENCH_*``, as bench.system), with
wrk (Debian's ``wrk``) as the HTTP client:

- ``commands``: create-product commands over HTTP at ``--connections`` (4), the whole
  pipeline live (``eventshop run``: relay, every projector, both APIs), against the
  ``eventsourcing`` library's bare save of one-event aggregates from as many threads into
  the same PostgreSQL (target ratio 0.5);
- ``queries``: a product by id at 8 connections against ``/healthz`` of the same query
  API (target ratio 0.6, p99 5 ms), and a search's p99 (target 20 ms);
- ``visible``: stock adjustments at half the measured command rate, each read back with
  its consistency token: command answered -> token read answered (targets p50 10 ms,
  p99 40 ms).

One JSON line per figure. Run: .venv/bin/python -m bench.throughput [--seconds 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
import uuid
from typing import Any

import httpx2
import psutil
import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate

from bench import wrk
from bench.accounting import CpuMeter, spent
from bench.fleet import postgres_root, running_fleet
from bench.oracle import quiesce
from bench.support import percentile
from bench.system import servers
from write_side.persistence.event_store import event_store_env

TOKEN = "X-Consistency-Token"


class Thing(Aggregate):
    def __init__(self, name: str) -> None:
        self.name = name


def bare_save_rate(
    database_url: str, threads: int, seconds: float
) -> tuple[float, dict[str, float]]:
    """The library alone: ``save`` of a new one-event aggregate, ``threads`` at once; the
    rate, and CPU milliseconds per save of this process and of PostgreSQL (if embedded)."""
    schema = f"bare_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    env = event_store_env(database_url, schema, create_table=True, pool_size=threads)
    for ours in ("APPLICATION_RECORDER_TOPIC", "AGGREGATE_CACHE_MAXSIZE"):
        env.pop(ours)
    app: Application[Any] = Application(env=env)
    saved = [0] * threads
    stop = time.perf_counter() + seconds

    def saver(n: int) -> None:
        while time.perf_counter() < stop:
            app.save(Thing("bench"))
            saved[n] += 1

    workers = [threading.Thread(target=saver, args=(n,)) for n in range(threads)]
    root = postgres_root(database_url)
    with CpuMeter(lambda: _tree("postgres", root)) as meter:
        before = meter.mark()
        began = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        took = time.perf_counter() - began
        cpu = spent(before, meter.mark())
    app.close()
    total = sum(saved)
    return total / took, {k: round(v * 1000 / total, 2) for k, v in cpu.items()}


def _tree(kind: str, pid: int | None) -> dict[str, list[psutil.Process]]:
    if pid is None:
        return {}
    try:
        root = psutil.Process(pid)
        return {kind: [root, *root.children(recursive=True)]}
    except psutil.Error:
        return {}


async def visible(
    urls: tuple[str, str], admin: str, products: list[str], rate: float, seconds: float
) -> dict[str, Any]:
    """Open loop: a stock adjustment every 1/rate s, then its token read; wait times."""
    command_url, query_url = urls
    waits: list[float] = []
    failed = 0
    headers = {"Authorization": f"Bearer {admin}"}
    async with (
        httpx2.AsyncClient(base_url=command_url, headers=headers, timeout=10) as commands,
        httpx2.AsyncClient(base_url=query_url, headers=headers, timeout=10) as queries,
    ):

        async def one(n: int) -> None:
            nonlocal failed
            product = products[n % len(products)]
            done = await commands.post(f"/products/{product}/stock", json={"delta": 1})
            answered = time.perf_counter()
            read = await queries.get(
                f"/products/{product}", headers={TOKEN: done.headers.get(TOKEN, "")}
            )
            if done.status_code != 200 or read.status_code != 200:
                failed += 1
            else:
                waits.append(time.perf_counter() - answered)

        tasks, start, n = [], time.perf_counter(), 0
        while (due := start + n / rate) < start + seconds:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            tasks.append(asyncio.create_task(one(n)))
            n += 1
        await asyncio.gather(*tasks)
    return {
        "rate_per_s": round(rate, 1),
        "n": len(waits),
        "failed": failed,
        "p50_ms": round(percentile(waits, 0.5) * 1000, 1),
        "p99_ms": round(percentile(waits, 0.99) * 1000, 1),
        "targets_ms": {"p50": 10, "p99": 40},
        "met": percentile(waits, 0.5) <= 0.010 and percentile(waits, 0.99) <= 0.040,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.throughput", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=4, help="command connections")
    parser.add_argument("--projectors", type=int, default=1, help="instances per group")
    parser.add_argument(
        "--fetch-max-wait-ms",
        type=int,
        default=None,
        help="the projectors' EVENTSHOP_KAFKA_FETCH_MAX_WAIT_MS (default: the setting's)",
    )
    args = parser.parse_args(argv)
    with servers() as (found, broker, _):
        # Best of two: the first save after the server started ran at a third of the second.
        bare, bare_cpu = max(
            (bare_save_rate(found.database_url, args.connections, args.seconds) for _ in range(2)),
            key=lambda measured: measured[0],
        )
        fetch = (
            {"kafka_fetch_max_wait_ms": args.fetch_max_wait_ms} if args.fetch_max_wait_ms else {}
        )
        with running_fleet(
            found,
            projector_processes=args.projectors,
            broker=broker,
            rate_limit_enabled=False,
            **fetch,
        ) as fleet:
            admin = fleet.admin_token()
            auth = {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"}
            run = uuid.uuid4().hex[:6]
            create = wrk.posts(
                "/products", auth, f'{{"sku": "T{run}-@N@", "title": "Bench", "price": 100}}'
            )
            root = postgres_root(found.database_url)
            if root is not None:
                fleet.servers["postgres"] = root
            with CpuMeter(fleet.members) as meter:
                before = meter.mark()
                made = wrk.run(fleet.command_url, create, args.seconds, args.connections)
                quiesce(fleet.settings, 120)  # the pipeline's CPU for these commands, all of it
                cpu = spent(before, meter.mark())
            _emit(
                "commands",
                connections=args.connections,
                create_product_per_s=round(made.rps, 1),
                p50_ms=made.p50_ms,
                p99_ms=made.p99_ms,
                cpu_ms_per_command=_per(cpu, made.requests),
                bare_save_per_s=round(bare, 1),
                bare_cpu_ms_per_save=bare_cpu,
                ratio=round(made.rps / bare, 3),
                target=0.5,
                met=made.rps / bare >= 0.5,
            )
            products = _published_products(fleet.command_url, admin, 50)
            quiesce(fleet.settings, 120)  # the relay and projectors idle before queries
            query = fleet.query_url
            with CpuMeter(fleet.members) as meter:
                # CPU per answer of the query API: steadier on a shared VM than the rates.
                healthz, healthz_us = _costed(meter, query, "/healthz", args.seconds)
                by_id, by_id_us = _costed(meter, query, f"/products/{products[0]}", args.seconds)
                search, search_us = _costed(
                    meter, query, "/products?q=Bench&limit=20", args.seconds
                )
            ratio = by_id.rps / healthz.rps
            _emit(
                "queries",
                connections=8,
                by_id_per_s=round(by_id.rps, 1),
                by_id_p99_ms=by_id.p99_ms,
                healthz_per_s=round(healthz.rps, 1),
                ratio=round(ratio, 3),
                query_api_cpu_us_per_answer={
                    "healthz": healthz_us,
                    "by_id": by_id_us,
                    "search": search_us,
                },
                search_per_s=round(search.rps, 1),
                search_p99_ms=search.p99_ms,
                targets={"ratio": 0.6, "by_id_p99_ms": 5, "search_p99_ms": 20},
                met=ratio >= 0.6 and by_id.p99_ms <= 5 and search.p99_ms <= 20,
            )
            quiesce(fleet.settings, 120)
            line = asyncio.run(
                visible((fleet.command_url, query), admin, products, made.rps / 2, args.seconds)
            )
            _emit("visible", **line)


def _costed(meter: CpuMeter, url: str, path: str, seconds: float) -> tuple[wrk.Measured, int]:
    """``path`` at 8 connections, and the query API's CPU microseconds per answer."""
    before = meter.mark()
    measured = wrk.run(url, wrk.get(path), seconds, 8)
    used = spent(before, meter.mark()).get("query_api", 0.0)
    return measured, round(used * 1e6 / max(measured.requests, 1))


def _published_products(command_url: str, admin: str, n: int) -> list[str]:
    headers = {"Authorization": f"Bearer {admin}"}
    made = []
    with httpx2.Client(base_url=command_url, headers=headers, timeout=10) as client:
        for i in range(n):
            body = {"sku": f"P{uuid.uuid4().hex[:8]}-{i}", "title": "Bench", "price": 100}
            product = client.post("/products", json=body).json()["id"]
            client.post(f"/products/{product}/publish").raise_for_status()
            made.append(product)
    return made


def _per(cpu: dict[str, float], n: int) -> dict[str, float]:
    return {k: round(v * 1000 / max(n, 1), 2) for k, v in cpu.items() if v}


def _emit(figure: str, **values: Any) -> None:
    print(json.dumps({"bench": "throughput", "figure": figure, **values}), flush=True)


if __name__ == "__main__":
    main()
