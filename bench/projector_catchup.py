"""Projector catch-up: a backlog of N events on the broker, then one projector reads it all.

Prints one JSON line: the projector's events/s, and, measured in the same run on the same
records, the rate of simply consuming them from the broker (the limit on this machine).
Run: .venv/bin/python -m bench.projector_catchup [N]
"""

from __future__ import annotations

import json
import sys
import time

from bench.support import bench_stack
from contracts.topics import topic_name
from tests.support.stack import eventually
from tests.support.topics import read_all


def main(n: int) -> None:
    with bench_stack() as stack:
        products = [
            stack.admin.post("/products", json={"sku": f"B-{i}", "title": "B", "price": 1}).json()[
                "id"
            ]
            for i in range(100)
        ]
        for i in range(n - len(products)):
            stack.admin.post(f"/products/{products[i % len(products)]}/stock", json={"delta": 1})
        relay = stack.start_relay()
        eventually(lambda: relay.stats.published >= n, timeout=600, interval=0.2)

        began = time.perf_counter()
        records = read_all(
            stack.settings.kafka_bootstrap_servers or "",
            [topic_name("catalog", stack.settings.topic_prefix)],
            timeout=600,
        )
        consume_rate = len(records) / (time.perf_counter() - began)

        began = time.perf_counter()
        stack.start_projectors("products")
        eventually(lambda: stack.positions("products")["applied"] >= n, timeout=600, interval=0.05)
        elapsed = time.perf_counter() - began
        on_hand = stack.sql("SELECT sum(on_hand) FROM {rm}.products")[0][0]
        print(
            json.dumps(
                {
                    "bench": "projector_catchup",
                    "events": n,
                    "correct": on_hand == n - len(products),
                    "projector_events_per_s": round(n / elapsed),
                    "plain_consume_events_per_s": round(consume_rate),
                    "ratio_to_plain_consume": round(n / elapsed / consume_rate, 3),
                    "seconds_including_group_join": round(elapsed, 2),
                }
            )
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
