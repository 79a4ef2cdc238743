"""The order process manager on real PostgreSQL: durable timers, one expiry per order
across instances, and a payment racing the expiry leaving exactly one outcome."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from uuid import UUID

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.integration.test_orders import a_customer, a_product, gateway_of, place, shop_of
from tests.support.stack import Servers, Stack, eventually, running_stack
from write_side.domain.errors import InvalidTransitionError
from write_side.domain.payment import Payment
from write_side.processes.order_expiry import OrderExpiry

TOKEN = "X-Consistency-Token"


@pytest.fixture(scope="module")
def stack(servers: Servers) -> Iterator[Stack]:
    with running_stack(servers) as stack:
        stack.start_relay()
        stack.start_projectors("orders", "products")
        yield stack


def manager(stack: Stack, timeout: float) -> OrderExpiry:
    settings = stack.settings
    return OrderExpiry(shop_of(stack), settings.database_url or "", settings.event_schema, timeout)


def an_order(stack: Stack, stock: int = 3, quantity: int = 2) -> tuple[str, str, TestClient]:
    product = a_product(stack, stock=stock)
    customer = a_customer(stack)
    placed = place(customer, (product, quantity))
    assert placed.status_code == 201, placed.text
    return placed.json()["id"], product, customer


def cancellations(stack: Stack, order_id: str) -> int:
    rows = stack.sql(
        "SELECT count(*) FROM {es}.shop_events WHERE originator_id = %s"
        " AND topic LIKE '%%OrderCancelled%%'",
        order_id,
    )
    return int(rows[0][0])


def test_an_unpaid_order_expires_when_due_and_its_stock_comes_back(stack: Stack) -> None:
    order, product, _ = an_order(stack, stock=3, quantity=2)
    timers = manager(stack, timeout=1.5)
    assert timers.run_once() == {}  # the timer is recorded, not due yet

    # Due 1.5 s after the order was placed; a later round fires it.
    eventually(lambda: timers.run_once() == {"expired": 1}, timeout=15, interval=0.2)

    def expired() -> bool:
        found = stack.admin_queries.get(f"/orders/{order}").json()
        return bool(found["status"] == "cancelled" and found["cancel_reason"] == "expired")

    eventually(expired, timeout=15)
    eventually(
        lambda: stack.admin_queries.get(f"/products/{product}").json()["available"] == 3,
        timeout=15,
    )
    assert manager(stack, timeout=0).run_once() == {}  # fired once: the timer is done


def test_an_order_paid_in_time_never_expires(stack: Stack) -> None:
    order, _, customer = an_order(stack)
    paid = customer.post(f"/orders/{order}/pay", json={"payment_token": "tok_ok"})
    assert paid.status_code == 200
    assert manager(stack, timeout=0).run_once() == {}
    assert shop_of(stack).get_order(UUID(order)).status == "paid"


def test_two_instances_expire_each_order_once(stack: Stack) -> None:
    orders = [an_order(stack, stock=1, quantity=1)[0] for _ in range(8)]
    managers = [manager(stack, timeout=0), manager(stack, timeout=0)]
    start = threading.Barrier(2)

    def run(m: OrderExpiry) -> dict[str, int]:
        start.wait()
        return m.run_once()

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(run, managers))
    assert sum(r.get("expired", 0) for r in results) >= len(orders)
    for order in orders:
        assert cancellations(stack, order) == 1, order


def test_a_payment_racing_the_expiry_leaves_exactly_one_outcome(stack: Stack) -> None:
    shop, gateway = shop_of(stack), gateway_of(stack)
    outcomes: Counter[str] = Counter()
    for trial in range(20):
        order, _, customer = an_order(stack, stock=1, quantity=1)
        # The expiry starts 0, 5 or 20 ms after the payment (either may win), or 100 ms
        # after it (the payment has won), or the payment 100 ms after it (the expiry has won).
        delay, late_pay = ((0.0, 0.0), (0.005, 0.0), (0.02, 0.0), (0.1, 0.0), (0.0, 0.1))[trial % 5]
        start = threading.Barrier(2)

        def pay(
            customer: TestClient = customer,
            order: str = order,
            start: threading.Barrier = start,
            late: float = late_pay,
        ) -> int:
            start.wait()
            time.sleep(late)
            answer = customer.post(f"/orders/{order}/pay", json={"payment_token": "tok_ok"})
            return int(answer.status_code)

        def expire(
            order: str = order, start: threading.Barrier = start, delay: float = delay
        ) -> str:
            start.wait()
            time.sleep(delay)
            try:
                shop.expire_order(UUID(order))
            except InvalidTransitionError as error:
                return str(error.state)
            return "expired"

        with ThreadPoolExecutor(2) as pool:
            paying, expiring = pool.submit(pay), pool.submit(expire)
            status, expired = paying.result(), expiring.result()
        final = shop.get_order(UUID(order))
        prefix = f"{Payment.create_id(UUID(order))}:"
        captured = [key for key in gateway.captured if key.startswith(prefix)]
        if final.status == "paid":  # the payment won; the expiry found it paid
            assert (status, expired) == (200, "paid")
            assert captured and not any(key in gateway.refunded for key in captured)
        else:  # the expiry won; the payment was refused and any capture went back
            assert (final.status, expired, status) == ("cancelled", "expired", 409)
            assert all(key in gateway.refunded for key in captured)
        outcomes[final.status] += 1
    # Both outcomes were met, so both branches above were checked (each at least in the
    # four trials that start one side 100 ms late).
    assert outcomes["paid"] >= 4 and outcomes["cancelled"] >= 4, outcomes


def test_fired_and_settled_timers_are_pruned_after_they_are_kept_a_while(stack: Stack) -> None:
    """One timer row per order would grow with history for good (docs/operations.md,
    "Capacity"): once fired or settled, a timer is kept ``keep_fired``, then deleted."""
    expired_order, _, _ = an_order(stack)
    paid_order, _, customer = an_order(stack)
    timers = manager(stack, timeout=0.2)
    timers.run_once()
    assert customer.post(f"/orders/{paid_order}/pay", json={"payment_token": "tok_ok"}).is_success
    time.sleep(0.3)
    timers.run_once()  # fires the unpaid one; settles the paid one

    def rows(*orders: str) -> int:
        found = stack.sql(
            "SELECT count(*) FROM {es}.order_timers WHERE order_id = ANY(%s::uuid[])", list(orders)
        )
        return int(found[0][0])

    with psycopg.connect(stack.settings.database_url or "", autocommit=True) as conn:
        timers.prune(conn)
        assert rows(expired_order, paid_order) == 2  # kept a day
        timers.keep_fired = timedelta(0)
        timers.prune(conn)
    assert rows(expired_order, paid_order) == 0
    waiting, _, _ = an_order(stack)
    timers.run_once()
    with psycopg.connect(stack.settings.database_url or "", autocommit=True) as conn:
        timers.prune(conn)
    assert rows(waiting) == 1  # a timer not yet fired is never pruned
