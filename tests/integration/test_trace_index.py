"""`events trace` finds a request's events through an index, on a store of thousands of
events, and the index's key can be computed from any payload (an insert never fails on it)."""

from __future__ import annotations

from uuid import uuid4

import psycopg

from bench.seed import seed
from eventshop import wiring
from eventshop.operations.trace import trace
from tests.support.stack import Servers, running_stack

PLAN = (
    "EXPLAIN SELECT notification_id FROM {es}.shop_events"
    " WHERE {es}.correlation_key(state) = hashtext(encode(%s::bytea, 'hex'))"
    " AND position(%s::bytea in state) > 0"
)


def test_a_trace_reads_the_correlation_index_not_the_whole_store(servers: Servers) -> None:
    with running_stack(servers) as stack:
        shop = wiring.shop(stack.settings)
        try:
            seed(shop, 6_000, lambda _: None)
        finally:
            shop.close()
        request = f"trace-{uuid4().hex}"
        placed = stack.admin.post(
            "/products",
            json={"sku": f"T-{uuid4().hex[:8]}", "title": "Traced", "price": 1},
            headers={"X-Request-ID": request},
        )
        assert placed.status_code == 201
        stack.sql("ANALYZE {es}.shop_events")
        needle = f'"correlation_id":"{request}"'.encode()
        plan = "\n".join(r[0] for r in stack.sql(PLAN, request.encode(), needle))
        assert "shop_events_correlation" in plan and "Seq Scan" not in plan, plan
        with psycopg.connect(wiring.database_url(stack.settings)) as conn:
            chain = trace(conn, stack.settings.event_schema, stack.settings.read_schema, request)
        assert [e["what"] for e in chain] == ["ProductCreated", "SkuClaimed"]


def test_any_payload_can_be_stored_beside_the_index(servers: Servers) -> None:
    with running_stack(servers) as stack:
        odd = [b"\xff\xfe not utf-8", b'{"meta":{"correlation_id":"unterminated', b"", b"{}"]
        for payload in odd:
            stack.sql(
                "INSERT INTO {es}.shop_events (originator_id, originator_version, topic, state)"
                " VALUES (%s, 1, 'Odd.v1', %s)",
                uuid4(),
                payload,
            )
        keys = stack.sql(
            "SELECT {es}.correlation_key(state) FROM {es}.shop_events WHERE topic = 'Odd.v1'"
        )
        assert keys == [(None,)] * 4
