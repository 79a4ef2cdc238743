"""Lag tells the truth (guarantee 12): measured from outside the projector, a dead
projector or relay shows within 10 s, with lag that grows, and converges afterwards."""

from __future__ import annotations

import signal
import time
from typing import Any
from uuid import uuid4

import eventshop.operations.status as operations
from eventshop.embedded import EmbeddedKafka
from tests.support.stack import Servers, Stack, eventually, running_stack

TOKEN = "X-Consistency-Token"


def partitions(stack: Stack) -> list[dict[str, Any]]:
    rows = operations.projections(stack.settings, partitions=True)
    return [r for r in rows if r["projection"] == "products"]


def adjust(stack: Stack, product: str, times: int) -> str:
    token = ""
    for _ in range(times):
        token = stack.admin.post(f"/products/{product}/stock", json={"delta": 1}).headers[TOKEN]
    return token


def a_visible_product(stack: Stack) -> str:
    """A product with one adjustment, read with its token (a child process may still be
    starting or joining its group: a client retries the 503, as Retry-After says)."""
    product: str = stack.admin.post(
        "/products", json={"sku": f"L-{uuid4().hex[:8]}", "title": "Lag", "price": 1}
    ).json()["id"]
    token = adjust(stack, product, 1)
    url = f"/products/{product}"
    eventually(lambda: stack.admin_queries.get(url, headers={TOKEN: token}).status_code == 200)
    return product


def test_a_killed_projector_shows_as_down_with_growing_lag_then_converges(
    servers: Servers,
) -> None:
    with running_stack(servers) as stack:
        stack.start_relay()
        child = stack.child("project", "-p", "products", EVENTSHOP_PROJECTOR_PROBE_PORT="0")
        product = a_visible_product(stack)
        eventually(lambda: any(r["owner"] and r["state"] == "live" for r in partitions(stack)))

        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        killed = time.monotonic()
        adjust(stack, product, 5)

        def down_with_lag() -> bool:
            rows = partitions(stack)
            return any(r["state"] == "down" and r["lag_events"] >= 5 for r in rows)

        eventually(down_with_lag, timeout=10)
        assert time.monotonic() - killed < 10
        first_lag = max(r["lag_seconds"] for r in partitions(stack))
        time.sleep(1.0)
        assert max(r["lag_seconds"] for r in partitions(stack)) > first_lag  # it grows

        stack.start_projectors("products")
        eventually(
            lambda: all(r["state"] == "live" and r["lag_events"] == 0 for r in partitions(stack)),
            timeout=30,
        )
        final = stack.admin_queries.get(f"/products/{product}").json()
        assert final["on_hand"] == 6


def test_a_killed_relay_shows_as_relay_down_with_a_growing_backlog(servers: Servers) -> None:
    with running_stack(servers) as stack:
        stack.start_projectors("products")
        relay = stack.child("relay", EVENTSHOP_RELAY_PROBE_PORT="0")
        product = a_visible_product(stack)
        relay.send_signal(signal.SIGKILL)
        relay.wait(timeout=10)
        killed = time.monotonic()
        adjust(stack, product, 4)

        def relay_down() -> bool:
            rows = partitions(stack)
            return bool(rows) and all(
                r["state"] == "relay down" and r["relay_backlog"] >= 4 for r in rows
            )

        eventually(relay_down, timeout=10)
        assert time.monotonic() - killed < 10
        assert operations.relay_status(stack.settings)["active_relay"] is False

        stack.start_relay()
        eventually(
            lambda: all(
                r["state"] == "live" and r["relay_backlog"] == 0 for r in partitions(stack)
            ),
            timeout=30,
        )


def test_lag_never_reads_below_the_backlog_while_the_relay_republishes_an_emptied_broker(
    database_url: str,
) -> None:
    """The broker restarts empty while the projector is down: the relay republishes the
    whole log from offset 0, below the offsets the projector had reached. Lag must count
    every republished record the projector has not read, not zero."""
    broker = EmbeddedKafka()
    broker.start()
    try:
        with running_stack(Servers(database_url, broker.bootstrap_servers)) as stack:
            relay = stack.start_relay()
            child = stack.child("project", "-p", "products", EVENTSHOP_PROJECTOR_PROBE_PORT="0")
            product = a_visible_product(stack)
            adjust(stack, product, 6)
            eventually(lambda: all(r["lag_events"] == 0 for r in partitions(stack)), timeout=30)
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=10)

            broker.restart()  # empty: the relay republishes the log from offset 0
            eventually(lambda: relay.stats.republishes >= 1, timeout=30)
            eventually(
                lambda: operations.relay_status(stack.settings)["unpublished_notifications"] == 0
            )
            [busy] = [r for r in partitions(stack) if r["position"]]
            # Created, +1, +6 x1: eight records of this product's partition, none read yet.
            assert busy["lag_events"] >= 8, busy

            stack.start_projectors("products")
            eventually(
                lambda: all(
                    r["state"] == "live" and r["lag_events"] == 0 for r in partitions(stack)
                ),
                timeout=60,
            )
    finally:
        broker.stop()
