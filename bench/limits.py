"""What rate limits and token checks cost: throughput with them on and off, same run.

Two real `eventshop serve` processes per mode on embedded PostgreSQL; clients on
loopback. Commands: stock adjustments as an admin. Queries: a product by id, "on" with
a bearer token and a consistency token (both verified, the limiter counting), "off"
anonymous with the limiter disabled. Modes alternate, best of --repeat runs each.
Prints one JSON line per kind with both rates and their ratio (target ≥ 0.90).
Run: .venv/bin/python -m bench.limits [--seconds 4] [--connections 4] [--repeat 3]
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

import httpx2
import typer

from bench.support import bench_stack
from tests.support.served import free_port
from tests.support.stack import Stack, settings_env

TOKEN = "X-Consistency-Token"


@contextmanager
def serving(stack: Stack, api: str, limits: bool) -> Iterator[str]:
    port = free_port()
    variable = "EVENTSHOP_COMMAND_PORT" if api == "command" else "EVENTSHOP_QUERY_PORT"
    env = {
        **settings_env(stack.settings),
        variable: str(port),
        "EVENTSHOP_RATE_LIMIT_ENABLED": str(limits).lower(),
        "EVENTSHOP_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen([sys.executable, "-m", "eventshop.cli", "serve", api], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx2.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx2.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)


def rate(url: str, send: Callable[[httpx2.Client], int], seconds: float, connections: int) -> float:
    """Requests per second over ``connections`` keep-alive clients; any non-2xx fails."""
    counts = [0] * connections
    stop = time.monotonic() + seconds

    def loop(n: int) -> None:
        with httpx2.Client(base_url=url, timeout=10) as client:
            send(client)  # warm the connection
            while time.monotonic() < stop:
                status = send(client)
                assert 200 <= status < 300, status
                counts[n] += 1

    threads = [threading.Thread(target=loop, args=(n,)) for n in range(connections)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.monotonic() - began)


def main(
    seconds: Annotated[float, typer.Option(min=1)] = 4.0,
    connections: Annotated[int, typer.Option(min=1)] = 4,
    repeat: Annotated[int, typer.Option(min=1)] = 3,
) -> None:
    with bench_stack() as stack:
        stack.start_relay()
        stack.start_projectors("products")
        product = stack.admin.post(
            "/products", json={"sku": "LIM-1", "title": "Limits", "price": 100}
        ).json()["id"]
        published = stack.admin.post(f"/products/{product}/publish")
        token = published.headers[TOKEN]
        assert stack.queries.get(f"/products/{product}", headers={TOKEN: token}).status_code == 200
        admin = dict(stack.admin.headers)
        senders: dict[str, dict[bool, Callable[[httpx2.Client], int]]] = {
            "command": {
                on: lambda c: (
                    c.post(
                        f"/products/{product}/stock", json={"delta": 1}, headers=admin
                    ).status_code
                )
                for on in (True, False)
            },
            "query": {
                True: lambda c: (
                    c.get(f"/products/{product}", headers={**admin, TOKEN: token}).status_code
                ),
                False: lambda c: c.get(f"/products/{product}").status_code,
            },
        }
        for api, send in senders.items():
            best = {True: 0.0, False: 0.0}
            for _ in range(repeat):
                for on in (False, True):
                    with serving(stack, api, limits=on) as url:
                        best[on] = max(best[on], rate(url, send[on], seconds, connections))
            print(
                json.dumps(
                    {
                        "bench": "limits",
                        "kind": api,
                        "connections": connections,
                        "rps_checks_on": round(best[True], 1),
                        "rps_checks_off": round(best[False], 1),
                        "ratio": round(best[True] / best[False], 3),
                        "target": 0.9,
                        "met": best[True] / best[False] >= 0.9,
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    typer.run(main)
