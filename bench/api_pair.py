"""CPU of one API request, this checkout against a commit, measured side by side.

One fleet (embedded servers unless ``EVENTSHOP_BENCH_*`` point elsewhere) and, beside it,
a command API and a query API worker of each side: this checkout's and ``--against REV``'s
(a ``git worktree``), on ports of their own, on the same database. Blocks of ``--block``
requests of one kind go to one side, then the other (which goes first alternates), for
``--rounds`` rounds; a side's CPU is its worker process's own. Both sides meet the same
moment of the machine, so the ratio holds where the machine's speed drifts between whole
runs (bench.restock's pairs). One JSON line per kind: microseconds of CPU a request on each
side, and their ratio (docs/benchmarks.md, "Cost per command").

Run: .venv/bin/python -m bench.api_pair --against REV [--rounds 10] [--block 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
import psutil

from bench.fleet import ADMIN, Fleet
from bench.support import CHECKOUT, worktree
from bench.system import measured_fleet
from bench.workload import TOKEN, Shopper
from tests.support.served import free_port

CONCURRENCY = 4
Ask = Callable[[httpx2.AsyncClient, int], Awaitable[httpx2.Response]]


@contextmanager
def worker(fleet: Fleet, code: Path, api: str) -> Iterator[tuple[str, psutil.Process]]:
    """One worker of ``api`` running ``code``, on a port of its own: (url, process)."""
    port = free_port()
    env = {
        **os.environ,
        **fleet.env,
        "PYTHONPATH": str(code),
        f"EVENTSHOP_{api.upper()}_PORT": str(port),
        f"EVENTSHOP_{api.upper()}_PROBE_PORT": "0",
    }
    args = [sys.executable, "-m", "eventshop.cli", "serve", api]
    quiet = subprocess.DEVNULL
    process = subprocess.Popen(args, cwd=code, env=env, stdout=quiet, stderr=quiet)
    try:
        yield f"http://127.0.0.1:{port}", psutil.Process(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=10)


async def ready(url: str) -> None:
    async with httpx2.AsyncClient() as client:
        for _ in range(300):
            try:
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not become ready")


async def kinds(shopper: Shopper) -> dict[str, tuple[str, Ask]]:
    """What is asked: name -> (api, one request)."""
    customer = {"Authorization": f"Bearer {shopper.customers[0].token}"}
    admin = {"Authorization": f"Bearer {shopper.admin}"}
    products = shopper.products
    line = {"product_id": products[0], "quantity": 1}
    placed = await shopper.commands.post("/orders", json={"lines": [line]}, headers=customer)
    order, order_token = placed.json()["id"], placed.headers[TOKEN]
    stock = f"/products/{products[0]}/stock"
    restocked = await shopper.commands.post(stock, json={"delta": 1}, headers=admin)
    stock_token = restocked.headers[TOKEN]
    return {
        "healthz": ("query", lambda c, i: c.get("/healthz")),
        "product_by_id": ("query", lambda c, i: c.get(f"/products/{products[i % 20]}")),
        "product_with_token": (
            "query",
            lambda c, i: c.get(f"/products/{products[0]}", headers={TOKEN: stock_token}),
        ),
        "search": ("query", lambda c, i: c.get("/products", params={"q": "bench"})),
        "order_with_token": (
            "query",
            lambda c, i: c.get(f"/orders/{order}", headers={**customer, TOKEN: order_token}),
        ),
        "restock": (
            "command",
            lambda c, i: c.post(
                f"/products/{products[i % 20]}/stock", json={"delta": 1}, headers=admin
            ),
        ),
    }


async def block(client: httpx2.AsyncClient, ask: Ask, n: int) -> None:
    async def one_client(first: int) -> None:
        for i in range(first, n, CONCURRENCY):
            answer = await ask(client, i)
            if answer.status_code >= 300:
                raise RuntimeError(f"{answer.request.url}: {answer.status_code} {answer.text}")

    await asyncio.gather(*(one_client(k) for k in range(CONCURRENCY)))


def cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


async def compare(
    fleet: Fleet, sides: dict[str, dict[str, tuple[str, psutil.Process]]], args: Any
) -> None:
    for url, _ in (entry for workers in sides.values() for entry in workers.values()):
        await ready(url)
    shopper = Shopper(fleet.command_url, fleet.query_url)
    clients = {
        (side, api): httpx2.AsyncClient(base_url=url, timeout=30)
        for side, workers in sides.items()
        for api, (url, _) in workers.items()
    }
    try:
        await shopper.setup(ADMIN)
        for name, (api, ask) in (await kinds(shopper)).items():
            spent = dict.fromkeys(sides, 0.0)
            n = args.block if api == "query" else args.block // 4  # a command costs more
            for round_ in range(args.rounds):
                for side in sorted(sides, reverse=round_ % 2 == 1):
                    process = sides[side][api][1]
                    before = cpu(process)
                    await block(clients[side, api], ask, n)
                    spent[side] += cpu(process) - before
            per = {side: spent[side] / (n * args.rounds) * 1e6 for side in sides}
            line = {"bench": "api_pair", "kind": name, "against": args.against}
            line |= {"this_us": round(per["this"]), "against_us": round(per["against"])}
            line["ratio"] = round(per["this"] / per["against"], 3)
            print(json.dumps(line), flush=True)
    finally:
        await shopper.close()
        for client in clients.values():
            await client.aclose()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.api_pair", description=__doc__.split("\n")[0])
    parser.add_argument("--against", metavar="REV", required=True)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--block", type=int, default=200, help="queries a block (commands: /4)")
    args = parser.parse_args(argv)
    with (
        worktree(args.against) as other,
        measured_fleet(api_workers=1, projectors=1) as fleet,
        worker(fleet, CHECKOUT, "query") as this_query,
        worker(fleet, CHECKOUT, "command") as this_command,
        worker(fleet, other, "query") as other_query,
        worker(fleet, other, "command") as other_command,
    ):
        sides = {
            "this": {"query": this_query, "command": this_command},
            "against": {"query": other_query, "command": other_command},
        }
        asyncio.run(compare(fleet, sides, args))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
