"""A year (two) of a shop: every figure that can grow with history, on a lived-in store
beside the same figure on a small one, measured in the same run.

Three stores, seeded through the domain and application (bench/history_seed.py): large
(``--orders``, default a million orders: about 8 M events), small (about 50,000 events)
and mid (about 200,000 events, the rebuild rate's reference). Then, one JSON line each:

- ``rebuild_all``: ``eventshop projections rebuild --all`` (a process of its own) on mid and
  large: events/s and the process's peak RSS; target large ≥ 0.8 x mid, memory bounded;
- ``verify_all``: ``eventshop projections verify NAME`` of each read model on large: seconds
  in all and the largest peak RSS;
- one line per query-API route: p50 and p99 over ``--requests`` calls on large and small;
  target both ≤ 2 x small (deep pagination: 30 pages of 100, timed as one);
- ``capacity``: bytes per order of each table on large;
- ``trace``: ``events trace`` by request id and by event id on large; target ≤ 50 ms;
- ``cold_command``: a stock move on the bestseller from a new worker; target ≤ 100 ms.

Run: .venv/bin/python -m bench.history [--orders N] [--requests R]. Progress on stderr.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated, Any
from uuid import uuid4

import psycopg
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from bench.history_catchup import catch_up
from bench.history_seed import Seeded, Shape, seed_history
from bench.support import percentile
from eventshop import wiring
from eventshop.embedded import EmbeddedKafka, EmbeddedPostgres
from eventshop.operations.trace import trace
from projections.registry import PROJECTIONS
from tests.support.stack import Servers, Stack, running_stack, settings_env

console = Console(stderr=True)


def emit(**line: Any) -> None:
    print(json.dumps({"bench": "history", **line}), flush=True)


@contextmanager
def servers() -> Iterator[Servers]:
    data = Path(tempfile.mkdtemp(prefix="eventshop-history-"))
    postgres, kafka = EmbeddedPostgres(data / "pg"), EmbeddedKafka()
    try:
        yield Servers(postgres.start(), kafka.start())
    finally:
        kafka.stop()
        postgres.stop()


def seeded(stack: Stack, shape: Shape, name: str, tag: str = "") -> Seeded:
    shop = wiring.shop(stack.settings)
    expected = int(shape.orders * 8)
    columns = (TextColumn(f"seeding {name}"), BarColumn(), MofNCompleteColumn())
    try:
        with Progress(*columns, TimeRemainingColumn(), console=console) as progress:
            task = progress.add_task(name, total=expected)
            done = seed_history(shop, shape, lambda n: progress.advance(task, n), tag=tag)
    finally:
        shop.close()
    stack.sql("VACUUM ANALYZE {es}.shop_events")
    return done


def cli(stack: Stack, *args: str) -> tuple[float, int]:
    """Run ``eventshop <args>``: seconds, and the process's peak RSS in MiB."""
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "eventshop.cli", *args],
        env=settings_env(stack.settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    output = child.stdout.read() if child.stdout else b""
    _, status, usage = os.wait4(child.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, (args, output.decode()[-2000:])
    return time.perf_counter() - started, usage.ru_maxrss // 1024


def routes(s: Seeded) -> dict[str, Callable[[Any], Any]]:
    def get(path: str, **params: Any) -> Callable[[Any], Any]:
        return lambda client: client.get(path, params=params)

    def pages(client: Any) -> None:
        params: dict[str, Any] = {"limit": 100}
        for _ in range(30):
            page = client.get("/orders", params=params).json()
            params["cursor"] = page["next_cursor"]

    return {
        "product_by_id": get(f"/products/{s.some_product}"),
        "order_by_id": get(f"/orders/{s.some_order}"),
        "customer_by_id": get(f"/customers/{s.some_customer}"),
        # A shopper's query (a product's name) and one matching a quarter of the catalog.
        "search_text": get("/products", q=s.some_product_title),
        "search_text_broad": get("/products", q="oak item"),
        "search_category": get("/products", category="kitchen"),
        "search_price_range": get("/products", min_price=1000, max_price=1200),
        "search_in_stock": get("/products", in_stock=True),
        **{f"search_sort_{k}": get("/products", sort=k) for k in ("price", "-price", "title")},
        "search_sort_units_sold": get("/products", sort="-units_sold"),
        "orders_by_status": get("/orders", status="paid"),
        "orders_of_heavy_customer": get("/orders", customer_id=str(s.heavy_customer)),
        "heavy_customer_orders": get(f"/customers/{s.heavy_customer}/orders"),
        "orders_30_pages_of_100": pages,
        "sales_report_year": get("/reports/sales", **{"from": _day(-365), "to": _day(0)}),
        "low_stock": get("/reports/low-stock", threshold=5),
    }


def _day(offset: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(time.time() + offset * 86400))


def latencies(stack: Stack, call: Callable[[Any], Any], requests: int) -> tuple[float, float]:
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        call(stack.admin_queries)
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 2), round(percentile(times, 0.99), 2)


def main(
    orders: Annotated[int, typer.Option(min=1000)] = 1_000_000,
    requests: Annotated[int, typer.Option(min=5)] = 50,
) -> None:
    with servers() as found, ExitStack() as stacks:
        large, small, mid = (stacks.enter_context(running_stack(found)) for _ in range(3))
        big = seeded(large, Shape.of(orders), "large")
        little = seeded(small, Shape.for_events(50_000), "small")
        middle = seeded(mid, Shape.for_events(200_000), "mid")
        rates = {}
        for name, stack, store in (
            ("mid", mid, middle),
            ("large", large, big),
            ("", small, little),
        ):
            seconds, rss = cli(stack, "projections", "rebuild", "--all", "--grace-seconds", "0")
            if name:
                rates[name] = store.events / seconds
                emit(
                    figure="rebuild_all",
                    store=name,
                    events=store.events,
                    seconds=round(seconds, 1),
                    peak_rss_mib=rss,
                )
        emit(
            figure="rebuild_all_rate",
            ratio=round(rates["large"] / rates["mid"], 2),
            limit=0.8,
            ok=rates["large"] >= 0.8 * rates["mid"],
        )
        verified = [cli(large, "projections", "verify", name) for name in PROJECTIONS]
        emit(
            figure="verify_all",
            events=big.events,
            seconds=round(sum(s for s, _ in verified), 1),
            peak_rss_mib=max(rss for _, rss in verified),
        )
        caught = {}
        for name, stack in (("mid", mid), ("large", large)):
            caught[name] = catch_up(stack, seeded, Shape.for_events(200_000), name)
            stack.stop.set()  # relay and projectors: the reads below are timed without them
            for thread in stack.threads:
                thread.join(timeout=30)
        emit(
            figure="catch_up",
            large=caught["large"],
            mid=caught["mid"],
            limit=0.8,
            ok=all(
                caught["large"][k] >= 0.8 * caught["mid"][k]
                for k in ("relay_events_per_s", "projectors_records_per_s")
            ),
        )
        on_small = routes(little)
        for route, call in routes(big).items():
            times = max(requests // 10, 3) if route.endswith("pages_of_100") else requests
            p50, p99 = latencies(large, call, times)
            s50, s99 = latencies(small, on_small[route], times)
            emit(
                figure=route,
                p50_ms=p50,
                p99_ms=p99,
                small_p50_ms=s50,
                small_p99_ms=s99,
                ok=p50 <= 2 * s50 and p99 <= 2 * s99,
            )
        emit(**_capacity(large, Shape.of(orders)), events=big.events)
        emit(**_trace(large, big), events=big.events, limit_ms=50)
        emit(**_cold_command(large, big), events=big.events, limit_ms=100)


def _capacity(stack: Stack, shape: Shape) -> dict[str, Any]:
    """Bytes per order of every table of the store and the read models (docs/operations.md,
    "Capacity"), with indexes and TOAST, after the rebuild and verify."""
    rows = stack.sql(
        "SELECT n.nspname = %s, c.relname, pg_total_relation_size(c.oid) FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname IN (%s, %s) AND c.relkind = 'r' ORDER BY 3 DESC",
        stack.settings.event_schema,
        stack.settings.event_schema,
        stack.settings.read_schema,
    )
    per_order = {
        f"{'es' if store else 'rm'}.{table}": round(size / shape.orders)
        for store, table, size in rows
        if size > 65536
    }
    return {"figure": "capacity", "orders": shape.orders, "bytes_per_order": per_order}


def _trace(stack: Stack, s: Seeded) -> dict[str, Any]:
    request = f"history-{uuid4().hex}"
    moved = stack.admin.post(
        f"/products/{s.bestseller}/stock", json={"delta": 1}, headers={"X-Request-ID": request}
    )
    event = f"{s.bestseller}.{moved.json()['version']}"
    with psycopg.connect(wiring.database_url(stack.settings)) as conn:
        timed = {}
        for key, wanted in (("by_request_ms", request), ("by_event_ms", event)):
            times = []
            for _ in range(5):
                started = time.perf_counter()
                assert trace(conn, stack.settings.event_schema, stack.settings.read_schema, wanted)
                times.append((time.perf_counter() - started) * 1000)
            timed[key] = round(statistics.median(times), 2)
    return {"figure": "trace", **timed, "ok": max(timed.values()) <= 50}


def _cold_command(stack: Stack, s: Seeded) -> dict[str, Any]:
    stream = stack.sql(
        "SELECT count(*) FROM {es}.shop_events WHERE originator_id = %s", s.bestseller
    )[0][0]
    shop = wiring.shop(stack.settings, pool_size=1)
    try:
        started = time.perf_counter()
        shop.adjust_stock(s.bestseller, delta=1)
        ms = (time.perf_counter() - started) * 1000
    finally:
        shop.close()
    return {
        "figure": "cold_command",
        "bestseller_events": stream,
        "ms": round(ms, 1),
        "ok": ms <= 100,
    }


if __name__ == "__main__":
    typer.run(main)
