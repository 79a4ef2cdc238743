"""Projector catch-up: a backlog of N events on the broker, then one projector reads it all.

Prints one JSON line: the projector's events/s (from its start, and from the moment it
holds its partitions), and, measured in the same run on the same records, the rate of
simply consuming them from the broker (the limit on this machine; best of three reads,
since one read of 10,000 records takes half a second and varies by half on this VM).
Run: .venv/bin/python -m bench.projector_catchup [N]
"""

from __future__ import annotations

import json
import sys
import time

from bench.support import bench_stack, consume_all
from contracts.topics import topic_name
from projections.live.consumer import KafkaProjector
from tests.support.stack import Stack, eventually


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

        consume_rate = max(_plain_consume_rate(stack, n) for _ in range(3))  # best of 3

        began = time.perf_counter()
        stack.start_projectors("products")  # returns once the consumer holds its partitions
        joined = time.perf_counter()
        eventually(lambda: stack.positions("products")["applied"] >= n, timeout=600, interval=0.05)
        elapsed, applying = time.perf_counter() - began, time.perf_counter() - joined
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
                    # The plain consumer reads assigned partitions, with no group to join.
                    "projector_events_per_s_after_join": round(n / applying),
                    "ratio_after_join": round(n / applying / consume_rate, 3),
                }
            )
        )


def _plain_consume_rate(stack: Stack, expected: int) -> float:
    """Read the topic's records from the start, consumer settings as the projector's."""
    topic = topic_name("catalog", stack.settings.topic_prefix)
    began = time.perf_counter()
    read = consume_all(
        stack.settings.kafka_bootstrap_servers or "",
        [topic],
        KafkaProjector.max_poll_records_default,
    )
    assert read[topic] >= expected, read
    return read[topic] / (time.perf_counter() - began)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
