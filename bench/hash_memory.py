"""Peak memory of a command-API process under a sign-in flood, with the hashing cap.

A real `eventshop serve command` with production argon2 cost (64 MiB per hash) gets
--clients parallel sign-ins for --seconds; its RSS is sampled every 10 ms. Run once with
the default cap and once with the cap raised to the client count (as if uncapped), in
the same run. Prints one JSON line per cap: peak RSS, answers by status.
Run: .venv/bin/python -m bench.hash_memory [--clients 40] [--seconds 5]
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import Counter
from typing import Annotated
from uuid import uuid4

import httpx2
import psutil
import typer

from bench.support import bench_stack
from tests.support.served import free_port
from tests.support.stack import settings_env


def main(
    clients: Annotated[int, typer.Option(min=1)] = 40,
    seconds: Annotated[float, typer.Option(min=1)] = 5.0,
) -> None:
    with bench_stack() as stack:
        for cap in (stack.settings.password_hash_concurrency, clients):
            port = free_port()
            env = {
                **settings_env(stack.settings),
                "EVENTSHOP_COMMAND_PORT": str(port),
                "EVENTSHOP_PASSWORD_HASH_CONCURRENCY": str(cap),
                "EVENTSHOP_ARGON2_TIME_COST": "3",
                "EVENTSHOP_ARGON2_MEMORY_KIB": "65536",
                "EVENTSHOP_ARGON2_PARALLELISM": "4",
                "EVENTSHOP_LOG_LEVEL": "WARNING",
            }
            server = subprocess.Popen(
                [sys.executable, "-m", "eventshop.cli", "serve", "command"], env=env
            )
            url = f"http://127.0.0.1:{port}"
            try:
                while True:
                    try:
                        httpx2.get(f"{url}/healthz", timeout=1)
                        break
                    except httpx2.TransportError:
                        time.sleep(0.1)
                process = psutil.Process(server.pid)
                idle = process.memory_info().rss
                statuses: Counter[int] = Counter()
                stop = time.monotonic() + seconds

                def sign_in(url: str, stop: float, statuses: Counter[int]) -> None:
                    with httpx2.Client(base_url=url, timeout=30) as client:
                        while time.monotonic() < stop:
                            form = {"username": f"{uuid4().hex}@x.io", "password": "whatever-pw"}
                            statuses[client.post("/auth/token", data=form).status_code] += 1

                threads = [
                    threading.Thread(target=sign_in, args=(url, stop, statuses))
                    for _ in range(clients)
                ]
                for thread in threads:
                    thread.start()
                peak = idle
                while any(t.is_alive() for t in threads):
                    peak = max(peak, process.memory_info().rss)
                    time.sleep(0.01)
                print(
                    json.dumps(
                        {
                            "bench": "hash_memory",
                            "clients": clients,
                            "hash_concurrency": cap,
                            "rss_idle_mib": round(idle / 2**20),
                            "rss_peak_mib": round(peak / 2**20),
                            "statuses": dict(statuses),
                        }
                    ),
                    flush=True,
                )
            finally:
                server.terminate()
                server.wait(timeout=15)


if __name__ == "__main__":
    typer.run(main)
