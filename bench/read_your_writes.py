"""Read-your-writes latency: a command, then a query with its token, N times.

Prints one JSON line: the command's own latency and the extra wait the token adds
(relay → broker → projector → read model), p50 and p99, in milliseconds.
Run: .venv/bin/python -m bench.read_your_writes [N]
"""

from __future__ import annotations

import json
import sys
import time

from bench.support import bench_stack, percentile
from tests.support.stack import PASSWORD

TOKEN = "X-Consistency-Token"


def main(n: int) -> None:
    with bench_stack() as stack:
        stack.start_relay()
        stack.start_projectors()
        warm = stack.commands.post(
            "/customers", json={"email": "warm@x.io", "name": "W", "password": PASSWORD}
        )
        stack.admin_queries.get(
            f"/customers/{warm.json()['id']}", headers={TOKEN: warm.headers[TOKEN]}
        )
        command_ms, wait_ms, failures = [], [], 0
        for i in range(n):
            started = time.perf_counter()
            created = stack.commands.post(
                "/customers", json={"email": f"b{i}@x.io", "name": "B", "password": PASSWORD}
            )
            commanded = time.perf_counter()
            read = stack.admin_queries.get(
                f"/customers/{created.json()['id']}", headers={TOKEN: created.headers[TOKEN]}
            )
            done = time.perf_counter()
            failures += read.status_code != 200
            command_ms.append((commanded - started) * 1000)
            wait_ms.append((done - commanded) * 1000)
        print(
            json.dumps(
                {
                    "bench": "read_your_writes",
                    "commands": n,
                    "failed_reads": failures,
                    "command_p50_ms": round(percentile(command_ms, 0.5), 1),
                    "command_p99_ms": round(percentile(command_ms, 0.99), 1),
                    "token_wait_p50_ms": round(percentile(wait_ms, 0.5), 1),
                    "token_wait_p99_ms": round(percentile(wait_ms, 0.99), 1),
                }
            )
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
