"""Every query the query API issues can be answered without reading a whole table that
grows with history (issue 29, "reads that do not grow with history").

The routes are called on a seeded store (bench/history_seed.py at 5,000 events: a
bestseller, a customer with many orders, two years of days; read models built by rebuilds) and
every statement they send is recorded; each is then EXPLAINed with sequential scans made
as costly as PostgreSQL allows (``enable_seqscan = off``). A plan that still scans a growing
table has no index to use: at five million events that query reads everything.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import psycopg
import pytest
from psycopg import AsyncCursor

from bench.history_seed import Shape, seed_history
from eventshop import wiring
from projections.registry import PROJECTIONS
from tests.support.stack import Servers, Stack, running_stack

#: Read-model tables whose size follows the history (orders, lines, customers, days…).
GROWING = {table for p in PROJECTIONS.values() for table in p.tables}
#: Routes that read every row their filters select, on purpose, and why.
WHOLE_SELECTION = {
    "/products/categories": "facets count the labels of every product the filters select:"
    " an aggregate over the catalog (which grows with products, not with sales)",
}


def seq_scans(plan: dict[str, Any]) -> Iterator[str]:
    if plan.get("Node Type") == "Seq Scan" and plan.get("Relation Name") in GROWING:
        yield plan["Relation Name"]
    for child in plan.get("Plans", []):
        yield from seq_scans(child)


@pytest.fixture(scope="module")
def seeded(servers: Servers) -> Iterator[Stack]:
    with running_stack(servers) as stack:
        shop = wiring.shop(stack.settings)
        try:
            seed_history(shop, Shape.for_events(5_000), lambda _: None)
        finally:
            shop.close()
        for name in PROJECTIONS:
            wiring.rebuilder(stack.settings, name).run()
        stack.sql("ANALYZE")
        yield stack


def requests(stack: Stack) -> list[tuple[str, dict[str, Any]]]:
    [(product,)] = stack.sql("SELECT id FROM {rm}.products LIMIT 1")
    [(order, customer)] = stack.sql("SELECT id, customer_id FROM {rm}.orders LIMIT 1")
    catalog: list[dict[str, Any]] = [
        {},
        {"q": "oak item"},
        {"q": "oak item", "sort": "relevance"},
        {"category": "tools"},
        {"min_price": 100, "max_price": 900},
        {"in_stock": True},
        *({"sort": sort} for sort in ("price", "-price", "title", "-units_sold")),
    ]
    return [
        *(("/products", params) for params in catalog),
        *(("/products/categories", params) for params in catalog[:6]),
        (f"/products/{product}", {}),
        (f"/orders/{order}", {}),
        ("/orders", {}),
        ("/orders", {"status": "paid"}),
        ("/orders", {"customer_id": str(customer)}),
        ("/orders", {"customer_id": str(customer), "status": "shipped"}),
        (f"/customers/{customer}", {}),
        (f"/customers/{customer}/orders", {}),
        ("/reports/low-stock", {"threshold": 5}),
        ("/reports/sales", {"from": "2026-01-01", "to": "2026-12-31"}),
    ]


def test_no_query_of_the_api_needs_a_sequential_scan_of_a_growing_table(
    seeded: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[tuple[str, Any, Any]] = []
    execute = AsyncCursor.execute

    async def recording(self: AsyncCursor[Any], query: Any, params: Any = None, **kw: Any) -> Any:
        sent.append((route, query, params))
        return await execute(self, query, params, **kw)

    monkeypatch.setattr(AsyncCursor, "execute", recording)
    for route, params in requests(seeded):
        answer = seeded.admin_queries.get(route, params=params)
        assert answer.status_code == 200, (route, answer.text)
    monkeypatch.undo()
    found: list[str] = []
    with psycopg.connect(wiring.database_url(seeded.settings), autocommit=True) as conn:
        conn.execute("SET enable_seqscan = off")
        for route, query, params in sent:
            if route in WHOLE_SELECTION:
                continue
            text = query if isinstance(query, str) else query.as_string(conn)
            if (
                not text.lstrip().upper().startswith("SELECT")
                or seeded.settings.read_schema not in text
            ):
                continue
            [(plan,)] = conn.execute("EXPLAIN (FORMAT JSON) " + text, params).fetchall()
            plan = plan if isinstance(plan, list) else orjson.loads(plan)
            for table in seq_scans(plan[0]["Plan"]):
                found.append(f"{route}: {table}: {' '.join(text.split())[:160]}")
    assert len(sent) > 20
    assert not found, "\n".join(sorted(set(found)))
