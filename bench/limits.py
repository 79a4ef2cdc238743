"""What rate limits and token checks cost: throughput with them on and off, same run.

One real `eventshop serve` process per mode on embedded PostgreSQL; wrk (Debian's `wrk`
package) as the client on loopback. Commands: stock adjustments as an admin. Queries: a
product by id, "on" with a bearer token and a consistency token (both verified, the
limiter counting), "off" anonymous with the limiter disabled. Each repeat measures off
then on; the ratio is the median of those pairs (this VM drifts by ±15 % between runs,
pairs cancel most of it). Prints one JSON line per kind: best rates, the pair ratios,
their median (target ≥ 0.90).
Run: .venv/bin/python -m bench.limits [--seconds 4] [--connections 4] [--repeat 5]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import httpx2
import psutil
import typer

from bench.support import bench_stack
from tests.support.served import free_port
from tests.support.stack import Stack, settings_env

TOKEN = "X-Consistency-Token"


@contextmanager
def serving(stack: Stack, api: str, limits: bool) -> Iterator[tuple[str, psutil.Process]]:
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
        yield url, psutil.Process(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=15)


@dataclass(frozen=True)
class Load:
    """What each wrk connection sends: ``paths[n]`` for connection n (one thread each)."""

    method: str
    paths: list[str]
    headers: dict[str, str]
    body: str | None = None

    def script(self) -> str:
        headers = "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in self.headers.items())
        paths = ", ".join(f'"{p}"' for p in self.paths)
        body = f"wrk.body = '{self.body}'\n" if self.body else ""
        return (
            f'wrk.method = "{self.method}"\n{body}{headers}'
            f"local paths = {{{paths}}}\nlocal n = 0\n"
            "function setup(thread)\n"
            "  n = n + 1; thread:set('path', paths[(n - 1) % #paths + 1])\nend\n"
            "function init(args) wrk.path = path end\n"
            "function request() return wrk.format(nil, wrk.path) end\n"
            "function done(summary, latency, requests)\n"
            '  io.write(string.format("JSON {\\"requests\\": %d, \\"seconds\\": %f,'
            ' \\"errors\\": %d}\\n", summary.requests, summary.duration / 1e6,'
            " summary.errors.status + summary.errors.connect + summary.errors.read"
            " + summary.errors.write + summary.errors.timeout))\n"
            "end\n"
        )


def rate(
    url: str, server: psutil.Process, load: Load, seconds: float, connections: int
) -> tuple[float, float]:
    """Requests per second from wrk (one thread per connection, keep-alive), and the API
    process's CPU microseconds per request; any error fails.

    wrk runs outside Python, so the client does not compete with the server for the GIL.
    CPU per request is steadier than the rate on a shared VM: neighbours steal time, not
    instructions."""
    before = sum(server.cpu_times()[:2])
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(load.script())
    out = subprocess.run(
        [
            "wrk",
            f"-t{connections}",
            f"-c{connections}",
            f"-d{int(seconds)}s",
            "-s",
            script.name,
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    Path(script.name).unlink()
    summary = json.loads(next(line for line in out.splitlines() if line.startswith("JSON "))[5:])
    assert summary["errors"] == 0, out
    cpu = sum(server.cpu_times()[:2]) - before
    requests = float(summary["requests"])
    return requests / float(summary["seconds"]), cpu / requests * 1e6


def main(
    seconds: Annotated[float, typer.Option(min=1)] = 4.0,
    connections: Annotated[int, typer.Option(min=1)] = 4,
    repeat: Annotated[int, typer.Option(min=1)] = 5,
) -> None:
    with bench_stack() as stack:
        stack.start_relay()
        stack.start_projectors("products")
        products = [
            stack.admin.post(
                "/products", json={"sku": f"LIM-{n}", "title": "Limits", "price": 100}
            ).json()["id"]
            for n in range(connections)
        ]
        product = products[0]
        published = stack.admin.post(f"/products/{product}/publish")
        token = published.headers[TOKEN]
        assert stack.queries.get(f"/products/{product}", headers={TOKEN: token}).status_code == 200
        admin = dict(stack.admin.headers)

        # The read model is built: stop the relay and projectors, they are not measured.
        stack.stop.set()
        for thread in stack.threads:
            thread.join(timeout=15)
        stock = [f"/products/{p}/stock" for p in products]
        json_body = {"Content-Type": "application/json"}
        senders: dict[str, dict[bool, Load]] = {
            "command": {
                on: Load("POST", stock, {**admin, **json_body}, '{"delta": 1}')
                for on in (True, False)
            },
            "query": {
                True: Load("GET", [f"/products/{product}"], {**admin, TOKEN: token}),
                False: Load("GET", [f"/products/{product}"], {}),
            },
        }
        for api, send in senders.items():
            best, ratios = {True: 0.0, False: 0.0}, []
            cpu: dict[bool, list[float]] = {True: [], False: []}
            for _ in range(repeat):
                measured = {}
                for on in (False, True):
                    with serving(stack, api, limits=on) as (url, server):
                        measured[on], micros = rate(url, server, send[on], seconds, connections)
                    best[on] = max(best[on], measured[on])
                    cpu[on].append(micros)
                ratios.append(measured[True] / measured[False])
            ratio = statistics.median(ratios)
            cpu_on, cpu_off = statistics.median(cpu[True]), statistics.median(cpu[False])
            print(
                json.dumps(
                    {
                        "bench": "limits",
                        "kind": api,
                        "connections": connections,
                        "rps_checks_on": round(best[True], 1),
                        "rps_checks_off": round(best[False], 1),
                        "api_cpu_us_per_request_on": round(cpu_on),
                        "api_cpu_us_per_request_off": round(cpu_off),
                        "cpu_ratio_off_over_on": round(cpu_off / cpu_on, 3),
                        "ratio_median_of_pairs": round(ratio, 3),
                        "ratios": [round(r, 3) for r in ratios],
                        "target": 0.9,
                        "met": ratio >= 0.9,
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    typer.run(main)
