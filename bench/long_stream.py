"""A bestseller's stream: a cold command on a product with 200,000 events.

Seeds one product through the application (stock moves saved a thousand events at a time,
as the snapshot trigger sees saves), then times, each in a new Shop (another worker,
nothing cached), in the same run on the same store:

- the cold load and a cold command (a stock move: load, decide, save), with snapshots, at
  the worst case: ``snapshot_every - 1`` events after the newest snapshot;
- the same load with the snapshot store switched off: the full replay it replaces.

Target: a cold command ≤ 100 ms (issue: "a shop that has lived"). One JSON line on stdout.
Run: .venv/bin/python -m bench.long_stream [--events N] [--repeat R]
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import Annotated
from uuid import UUID, uuid4

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from bench.support import bench_stack
from eventshop import wiring
from eventshop.settings import Settings
from write_side.application.shop import Shop

LIMIT_MS = 100.0
CHUNK = 1000


def seed(shop: Shop, events: int, tail: int, advance: Callable[[int], None]) -> UUID:
    """``events`` events, then ``tail`` more in one save that crosses no snapshot line:
    the worst case a cold load meets (the most events after the newest snapshot)."""
    product_id = shop.create_product(sku=f"BEST-{uuid4().hex[:6]}", title="Best", price=9).id
    written = 1
    while written < events + tail:
        product = shop.get_product(product_id)
        size = min(CHUNK, events - written) if written < events else tail
        for _ in range(size):
            product.adjust_stock(1, "received")
        shop._save(product, subject=product)
        written += size
        advance(size)
    shop.snapshotter.flush()
    return product_id


def cold_ms(settings: Settings, run: Callable[[Shop], object], *, snapshots: bool) -> float:
    shop = wiring.shop(settings, pool_size=1)
    try:
        # Each timed command must meet the worst case too: none writes a newer snapshot.
        shop.snapshotter.every = 0
        if not snapshots:
            shop.repository.snapshot_store = None
        started = time.perf_counter()
        run(shop)
        return (time.perf_counter() - started) * 1000
    finally:
        shop.close()


def main(
    events: Annotated[int, typer.Option(min=1000)] = 200_000,
    repeat: Annotated[int, typer.Option(min=1)] = 5,
) -> None:
    console = Console(stderr=True)
    with bench_stack() as stack:
        settings = stack.settings
        shop = wiring.shop(settings)
        columns = (TextColumn("seeding"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        try:
            with Progress(*columns, console=console) as progress:
                tail = max(settings.snapshot_every - 1, 0)
                task = progress.add_task("seed", total=events + tail)
                product_id = seed(shop, events, tail, lambda n: progress.advance(task, n))
        finally:
            shop.close()

        def load(s: Shop) -> object:
            return s.get_product(product_id)

        def command(s: Shop) -> object:
            return s.adjust_stock(product_id, delta=1, reason="bench")

        with_snapshot = [cold_ms(settings, load, snapshots=True) for _ in range(repeat)]
        commands = [cold_ms(settings, command, snapshots=True) for _ in range(repeat)]
        without = [cold_ms(settings, load, snapshots=False) for _ in range(min(repeat, 3))]
    line = {
        "bench": "long_stream",
        "events": events + tail,
        "snapshot_every": settings.snapshot_every,
        "replayed_after_snapshot": tail,
        "cold_load_ms": round(statistics.median(with_snapshot), 1),
        "cold_command_ms": round(statistics.median(commands), 1),
        "cold_load_without_snapshots_ms": round(statistics.median(without), 1),
        "limit_ms": LIMIT_MS,
        "ok": statistics.median(commands) <= LIMIT_MS,
    }
    print(json.dumps(line))


if __name__ == "__main__":
    typer.run(main)
