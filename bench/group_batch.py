"""The cost of a processing group's batch at the size a live shop sends it.

Under a steady load the projectors apply small batches (one or two records: about 1.5 in
`bench.system`'s fixed phase), and what a batch costs regardless of its records (the
transaction, the opening reads, the bookkeeping written back) is most of a projector's
CPU there. This bench seeds a shop's mixed history through the command API, lets the
relay publish it, then has one projector process (every projection and the mail intake,
in their default groups) apply all of it in batches of ``--batch`` records, and prints one
JSON line: CPU microseconds a batch and a record, the projector's (this process: the
seeding clients and the relay are idle by then) and PostgreSQL's; and, as the limit
measured in the same run, what merely consuming the same records in batches of the same
size costs (kafka-python's share, which no change to the batch can remove).

Run: .venv/bin/python -m bench.group_batch [--orders 300] [--batch 2]
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
from typing import Any

import psutil

from bench.accounting import cpu_seconds
from bench.fleet import postgres_root
from bench.support import bench_stack, consume_all
from bench.workload import PASSWORD
from eventshop import wiring
from tests.support.stack import Stack, eventually


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.group_batch", description=__doc__)
    parser.add_argument("--orders", type=int, default=300, help="orders placed while seeding")
    parser.add_argument("--batch", type=int, default=2, help="records a batch (max_poll_records)")
    args = parser.parse_args()
    with bench_stack() as stack:  # the mail intake runs in the projector (the default)
        _seed(stack, args.orders, random.Random(7))
        relay = stack.start_relay()
        eventually(lambda: _settled(relay), timeout=300, interval=0.2)
        pg = psutil.Process(postgres_root(stack.settings.database_url or "") or 0)
        print(json.dumps(_measure(stack, pg, args.batch)))


def _seed(stack: Stack, orders: int, rng: random.Random) -> None:
    """Products with stock, a few customers, then orders: placed, most paid, some shipped,
    some cancelled, with restocks between (the mix `bench.workload` drives)."""
    products = []
    for i in range(20):
        made = stack.admin.post("/products", json={"sku": f"G-{i}", "title": "G", "price": 1250})
        product = made.json()["id"]
        stack.admin.post(f"/products/{product}/stock", json={"delta": 100_000})
        stack.admin.post(f"/products/{product}/publish", json={})
        products.append(product)
    customers = []
    for i in range(8):
        email = f"g-{i}-{rng.getrandbits(32):x}@bench.example"
        body = {"email": email, "name": "Bench", "password": PASSWORD}
        stack.commands.post("/customers", json=body).raise_for_status()
        login = {"username": email, "password": PASSWORD}
        token = stack.commands.post("/auth/token", data=login).json()["access_token"]
        customers.append({"Authorization": f"Bearer {token}"})
    for i in range(orders):
        customer = rng.choice(customers)
        lines = [{"product_id": rng.choice(products), "quantity": 1}]
        placed = stack.commands.post("/orders", json={"lines": lines}, headers=customer)
        order = placed.json()["id"]
        if rng.random() < 0.2:
            stack.commands.post(f"/orders/{order}/cancel", json={}, headers=customer)
            continue
        pay = {"payment_token": "tok_ok"}
        stack.commands.post(f"/orders/{order}/pay", json=pay, headers=customer)
        if rng.random() < 0.4:
            stack.admin.post(f"/orders/{order}/ship", json={})
        if i % 3 == 0:
            stack.admin.post(f"/products/{rng.choice(products)}/stock", json={"delta": 3})


def _settled(relay: Any) -> bool:
    """The relay has published everything (two reads a second apart agree)."""
    before = relay.stats.published
    time.sleep(1.0)
    return bool(before) and relay.stats.published == before


def _measure(stack: Stack, pg: psutil.Process, batch: int) -> dict[str, Any]:
    settings = stack.settings
    groups = wiring.projectors(settings)
    topics = sorted({t for g in groups for m in g.members for t in m.topics})
    records = consume_all(wiring.kafka(settings), topics, batch)  # warms the broker
    me = psutil.Process()
    plain_before = _cpu(me)
    plain = consume_all(wiring.kafka(settings), topics, batch)
    plain_cpu = _cpu(me) - plain_before
    expected = {m.name: sum(plain[t] for t in m.topics) for g in groups for m in g.members}

    counted, consumers = [0], []
    me_before, pg_before, began = _cpu(me), _cpu_tree(pg), time.perf_counter()
    for group in groups:
        group.max_poll_records = batch
        group._batch = _counting(group._batch, counted)  # type: ignore[method-assign]
        thread = threading.Thread(target=group.run, args=(stack.stop,), daemon=True)
        thread.start()
        stack.threads.append(thread)
        consumers.append(thread.native_id)
    eventually(lambda: _caught_up(stack, expected), timeout=600, interval=0.05)
    wall = time.perf_counter() - began
    spent, pg_spent = _cpu(me) - me_before, _cpu_tree(pg) - pg_before
    consuming = sum(t.user_time + t.system_time for t in me.threads() if t.id in consumers)
    batches = counted[0]
    total = sum(records.values())
    plain_batches = -(-total // batch)
    return {
        "bench": "group_batch",
        "records": total,
        "batch": batch,
        "batches": batches,
        "groups": [[m.name for m in g.members] for g in groups],
        "projector_cpu_us_per_batch": round(1e6 * spent / batches),
        "postgres_cpu_us_per_batch": round(1e6 * pg_spent / batches),
        # The consumer threads alone (the group batches, and polling): what this
        # project's code costs, without kafka-python's network thread.
        "consumer_thread_cpu_us_per_batch": round(1e6 * consuming / batches),
        "projector_cpu_us_per_record": round(1e6 * spent / total),
        "plain_consume_cpu_us_per_batch": round(1e6 * plain_cpu / plain_batches),
        "ratio_to_plain_consume": round((spent / batches) / (plain_cpu / plain_batches), 2),
        "seconds": round(wall, 2),
    }


def _counting(batch: Any, counted: list[int]) -> Any:
    """A group's ``_batch``, counting its calls (one a batch of records polled)."""

    def counting(*args: Any) -> None:
        counted[0] += 1
        batch(*args)

    return counting


def _caught_up(stack: Stack, expected: dict[str, int]) -> bool:
    rows = stack.sql(
        "SELECT projection, sum(applied + duplicates + skipped + dead_lettered)"
        " FROM {rm}.projection_positions GROUP BY projection"
    )
    seen = {name: int(n) for name, n in rows}
    return all(seen.get(name, 0) >= n for name, n in expected.items())


def _cpu(process: psutil.Process) -> float:
    return cpu_seconds(process) or 0.0


def _cpu_tree(root: psutil.Process) -> float:
    return _cpu(root) + sum(_cpu(c) for c in root.children(recursive=True))


if __name__ == "__main__":
    main()
