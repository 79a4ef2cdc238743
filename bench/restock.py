"""CPU per command by process kind, on the steadiest load there is: restocks at a fixed rate.

The whole fleet runs (``eventshop run`` with two API workers and two projector instances,
embedded servers unless ``EVENTSHOP_BENCH_*`` point elsewhere); 20 published products; then
``--rate`` ``POST /products/{id}/stock`` a second for ``--seconds``, every fourth one read
back through the query API with its consistency token (command → visible). Only the
command API is busy at the edge, so run to run this varies far less than
``bench.system``'s mixed fixed phase: it is the A/B instrument for the cost of a command
(docs/benchmarks.md, "Cost per command").

``--against REV`` measures this checkout and the commit ``REV`` (a ``git worktree`` in a
temporary directory, run with this checkout's installed dependencies and this bench),
alternating, ``--pairs`` times; a last line gives the ratio of each median, this checkout
over ``REV``.

Run: .venv/bin/python -m bench.restock [--rate 40] [--seconds 20] [--against REV --pairs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx2

from bench.accounting import CpuMeter, spent
from bench.fleet import Fleet
from bench.support import CHECKOUT, percentile, worktree
from bench.system import measured_fleet
from bench.workload import TOKEN


async def restocks(fleet: Fleet, rate: float, seconds: float) -> dict[str, Any]:
    admin = {"Authorization": f"Bearer {fleet.admin_token()}"}
    async with (
        httpx2.AsyncClient(base_url=fleet.command_url, headers=admin, timeout=30) as commands,
        httpx2.AsyncClient(base_url=fleet.query_url, timeout=30) as queries,
    ):
        products = []
        for _ in range(20):
            body = {"sku": f"R-{uuid4().hex[:8]}", "title": "r", "categories": ["bench"]}
            made = await commands.post("/products", json={**body, "price": 1250})
            products.append(made.raise_for_status().json()["id"])
            await commands.post(f"/products/{products[-1]}/publish", json={})
        await asyncio.sleep(3)  # settled: the setup's events projected
        visible: list[float] = []
        statuses: dict[str, int] = {}

        async def restock(n: int) -> None:
            product = products[n % len(products)]
            answer = await commands.post(f"/products/{product}/stock", json={"delta": 1})
            statuses[str(answer.status_code)] = statuses.get(str(answer.status_code), 0) + 1
            answered = time.perf_counter()
            if n % 4 == 0 and answer.status_code == 200:
                token = {TOKEN: answer.headers[TOKEN]}
                read = await queries.get(f"/products/{product}", headers=token)
                if read.status_code == 200:
                    visible.append(time.perf_counter() - answered)

        with CpuMeter(fleet.members) as meter:
            tasks: list[asyncio.Task[None]] = []
            before, start = meter.mark(), time.perf_counter()
            while time.perf_counter() - start < seconds:
                due = start + len(tasks) / rate
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                tasks.append(asyncio.create_task(restock(len(tasks))))
            await asyncio.gather(*tasks)
            elapsed, after = time.perf_counter() - start, meter.mark()
    n = len(tasks)
    per = {k: round(v * 1000 / n, 2) for k, v in spent(before, after).items() if v}
    return {
        "bench": "restock",
        "commands_per_s": round(n / elapsed, 1),
        "statuses": statuses,
        "cpu_ms_per_command": per,
        "total_excl_client": round(sum(v for k, v in per.items() if k != "bench_client"), 2),
        "visible_p50_ms": round(1000 * percentile(visible, 0.5), 1),
        "visible_p99_ms": round(1000 * percentile(visible, 0.99), 1),
    }


def measure(rate: float, seconds: float) -> dict[str, Any]:
    with measured_fleet(api_workers=2, projectors=2) as fleet:
        return asyncio.run(restocks(fleet, rate, seconds))


def one_side(code: Path, helpers: Path, rate: float, seconds: float) -> dict[str, Any]:
    """This bench in a child process, on the code under ``code``: ``helpers`` holds only a
    link to this checkout's ``bench`` package, first on the path, so the measuring is the
    same on both sides and everything measured (``eventshop run`` and its children) is
    ``code``'s."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(helpers), str(code)])}
    args = [sys.executable, "-m", "bench.restock", "--rate", str(rate), "--seconds", str(seconds)]
    done = subprocess.run(args, cwd=helpers, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"bench.restock on {code} failed: {done.stderr[-2000:]}")
    line: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return line


def against(rev: str, pairs: int, rate: float, seconds: float) -> None:
    sides: dict[str, list[dict[str, Any]]] = {"this": [], rev: []}
    with tempfile.TemporaryDirectory(prefix="eventshop-restock-") as work, worktree(rev) as other:
        helpers = Path(work) / "helpers"
        helpers.mkdir()
        (helpers / "bench").symlink_to(CHECKOUT / "bench")
        for _ in range(pairs):
            for name, code in ((rev, other), ("this", CHECKOUT)):
                line = {**one_side(code, helpers, rate, seconds), "side": name}
                sides[name].append(line)
                print(json.dumps(line), flush=True)

    def median(name: str, key: str) -> float:
        return float(statistics.median(float(line[key]) for line in sides[name]))

    keys = ("total_excl_client", "visible_p50_ms", "visible_p99_ms")
    ratios = {key: round(median("this", key) / median(rev, key), 3) for key in keys}
    print(json.dumps({"bench": "restock", "against": rev, "pairs": pairs, "ratio": ratios}))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.restock", description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=40.0, help="restocks a second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--against", metavar="REV", help="alternate with this commit")
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args(argv)
    if args.against:
        against(args.against, args.pairs, args.rate, args.seconds)
    else:
        print(json.dumps(measure(args.rate, args.seconds)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
