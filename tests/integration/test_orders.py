"""Orders and payments through the command API on real PostgreSQL (docs/architecture.md, "Domain
rules")."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient

from tests.support.stack import PASSWORD, Servers, Stack, login, running_stack
from write_side.application.shop import Shop
from write_side.domain.payment import Payment
from write_side.gateway.breaker import BreakingGateway
from write_side.gateway.port import FakePaymentGateway
from write_side.processes.payment_sweeper import PaymentSweeper


@pytest.fixture(scope="module")
def stack(servers: Servers) -> Iterator[Stack]:
    with running_stack(servers) as stack:
        yield stack


def shop_of(stack: Stack) -> Shop:
    shop: Shop = stack.commands.app.state.shop  # type: ignore[attr-defined]
    return shop


def gateway_of(stack: Stack) -> FakePaymentGateway:
    gateway = shop_of(stack).gateway
    assert isinstance(gateway, BreakingGateway)  # every process's gateway has its breaker
    assert isinstance(gateway.gateway, FakePaymentGateway)
    return gateway.gateway


def a_product(stack: Stack, *, stock: int, price: int = 1000, publish: bool = True) -> str:
    created = stack.admin.post(
        "/products", json={"sku": f"P-{uuid4().hex[:8]}", "title": "Lamp", "price": price}
    )
    product_id: str = created.json()["id"]
    if stock:
        stack.admin.post(f"/products/{product_id}/stock", json={"delta": stock})
    if publish:
        assert stack.admin.post(f"/products/{product_id}/publish").status_code == 200
    return product_id


def a_customer(stack: Stack) -> TestClient:
    email = f"o-{uuid4().hex[:8]}@example.com"
    stack.commands.post("/customers", json={"email": email, "name": "Olga", "password": PASSWORD})
    client = TestClient(stack.commands.app)
    client.headers["Authorization"] = f"Bearer {login(stack.commands, email)}"
    return client


def place(client: TestClient, *lines: tuple[str, int]) -> Any:
    return client.post(
        "/orders", json={"lines": [{"product_id": p, "quantity": q} for p, q in lines]}
    )


def test_placing_snapshots_lines_and_reserves_stock(stack: Stack) -> None:
    lamp, desk = a_product(stack, stock=5, price=1999), a_product(stack, stock=2, price=15000)
    customer = a_customer(stack)
    placed = place(customer, (lamp, 2), (desk, 1))
    assert placed.status_code == 201, placed.text
    order = shop_of(stack).get_order(UUID(placed.json()["id"]))
    assert (order.status, order.total) == ("placed", 2 * 1999 + 15000)
    assert [(str(line.product_id), line.unit_price, line.quantity) for line in order.lines] == [
        (lamp, 1999, 2),
        (desk, 15000, 1),
    ]
    # A later price change does not touch the placed order.
    stack.admin.patch(f"/products/{lamp}", json={"price": 1})
    assert shop_of(stack).get_order(order.id).total == 2 * 1999 + 15000
    assert shop_of(stack).get_product(UUID(lamp)).available == 3


def test_an_order_fails_whole_when_one_line_lacks_stock(stack: Stack) -> None:
    plenty, scarce = a_product(stack, stock=10), a_product(stack, stock=1)
    refused = place(a_customer(stack), (plenty, 3), (scarce, 2))
    assert refused.status_code == 409
    body = refused.json()
    assert body["code"] == "OUT_OF_STOCK"
    assert body["lines"] == [{"product_id": scarce, "requested": 2, "available": 1}]
    assert shop_of(stack).get_product(UUID(plenty)).available == 10  # nothing reserved


def test_drafts_and_archived_products_cannot_be_ordered(stack: Stack) -> None:
    draft = a_product(stack, stock=5, publish=False)
    archived = a_product(stack, stock=5)
    stack.admin.post(f"/products/{archived}/archive")
    customer = a_customer(stack)
    for product_id in (draft, archived):
        refused = place(customer, (product_id, 1))
        assert refused.status_code == 409
        assert refused.json()["lines"][0]["available"] == 0


def test_twenty_concurrent_orders_for_seven_units_sell_exactly_seven(stack: Stack) -> None:
    hot = a_product(stack, stock=7)
    customers = [a_customer(stack) for _ in range(20)]
    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(lambda c: place(c, (hot, 1)), customers))
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 7, 409: 13}, [r.json() for r in responses if r.status_code != 201]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"OUT_OF_STOCK"}
    product = shop_of(stack).get_product(UUID(hot))
    assert (product.on_hand, product.reserved_total, product.available) == (7, 7, 0)


def test_orders_racing_in_one_process_take_turns_instead_of_retrying(stack: Stack) -> None:
    """Each attempt holds the product it read until it saved
    (write_side/application/aggregate_locks.py): in one process, twenty orders of one
    product lose no race, so none is re-run."""
    hot = a_product(stack, stock=20)
    customers = [a_customer(stack) for _ in range(20)]
    shop = shop_of(stack)
    retries_before = shop.contention_retries
    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(lambda c: place(c, (hot, 1)), customers))
    assert [r.status_code for r in responses] == [201] * 20
    assert shop.contention_retries - retries_before == 0
    assert shop.aggregate_locks.in_use == 0
    assert shop_of(stack).get_product(UUID(hot)).available == 0


@pytest.mark.parametrize(
    "body",
    [
        {"lines": []},
        {"lines": [{"product_id": str(uuid4()), "quantity": 0}]},
        {"lines": [{"product_id": str(uuid4()), "quantity": 1}] * 101},
        {"lines": [{"product_id": "nope", "quantity": 1}]},
    ],
)
def test_malformed_orders_are_422(stack: Stack, body: dict[str, Any]) -> None:
    assert a_customer(stack).post("/orders", json=body).status_code == 422


def test_an_order_for_an_unknown_product_is_404(stack: Stack) -> None:
    assert place(a_customer(stack), (str(uuid4()), 1)).status_code == 404


def test_pay_then_ship_commits_the_reservation(stack: Stack) -> None:
    lamp = a_product(stack, stock=4, price=2500)
    customer = a_customer(stack)
    order_id = place(customer, (lamp, 3)).json()["id"]
    assert customer.post(f"/orders/{order_id}/ship").status_code == 403
    unpaid = stack.admin.post(f"/orders/{order_id}/ship")
    assert (unpaid.status_code, unpaid.json()["state"]) == (409, "placed")
    paid = customer.post(f"/orders/{order_id}/pay", json={"payment_token": "tok_ok"})
    assert paid.status_code == 200, paid.text
    assert stack.admin.post(f"/orders/{order_id}/ship").status_code == 200
    product = shop_of(stack).get_product(UUID(lamp))
    assert (product.on_hand, product.reserved_total) == (1, 0)
    assert customer.post(f"/orders/{order_id}/cancel").json()["code"] == "INVALID_TRANSITION"


def test_a_declined_payment_is_402_and_another_card_may_follow(stack: Stack) -> None:
    customer = a_customer(stack)
    order_id = place(customer, (a_product(stack, stock=1), 1)).json()["id"]
    declined = customer.post(f"/orders/{order_id}/pay", json={"payment_token": "tok_declined"})
    assert (declined.status_code, declined.json()["code"]) == (402, "PAYMENT_DECLINED")
    assert shop_of(stack).get_order(UUID(order_id)).status == "placed"
    assert (
        customer.post(f"/orders/{order_id}/pay", json={"payment_token": "tok_ok"}).status_code
        == 200
    )


def test_a_gateway_timeout_never_leaves_money_captured_unrecorded(stack: Stack) -> None:
    customer = a_customer(stack)
    order_id = place(customer, (a_product(stack, stock=1, price=4200), 1)).json()["id"]
    pending = customer.post(f"/orders/{order_id}/pay", json={"payment_token": "tok_timeout"})
    assert (pending.status_code, pending.json()["code"]) == (503, "PAYMENT_PENDING")
    assert pending.headers["Retry-After"] == "1"
    # The gateway did capture this order's money; the order does not know yet.
    started = shop_of(stack).get_order(UUID(order_id))
    assert (started.status, started.paid_amount) == ("placed", 0)
    attempt = shop_of(stack).get_payment(Payment.create_id(UUID(order_id)))
    assert attempt.status == "started"
    assert gateway_of(stack).captured[attempt.gateway_key] == 4200
    # Paying again finds out.
    retried = customer.post(f"/orders/{order_id}/pay", json={"payment_token": "tok_ok"})
    assert retried.status_code == 200, retried.text
    order = shop_of(stack).get_order(UUID(order_id))
    assert (order.status, order.paid_amount) == ("paid", 4200)
    payment = shop_of(stack).get_payment(order.payment_id)  # type: ignore[arg-type]
    assert gateway_of(stack).captured[payment.gateway_key] == 4200  # captured once


def test_a_gateway_error_captures_nothing_and_may_be_retried(stack: Stack) -> None:
    customer = a_customer(stack)
    order_id = place(customer, (a_product(stack, stock=1), 1)).json()["id"]
    failed = customer.post(f"/orders/{order_id}/pay", json={"payment_token": "tok_error"})
    assert (failed.status_code, failed.json()["code"]) == (502, "PAYMENT_GATEWAY_ERROR")
    assert (
        customer.post(f"/orders/{order_id}/pay", json={"payment_token": "tok_ok"}).status_code
        == 200
    )


def test_cancelling_releases_stock_and_refunds_what_was_paid(stack: Stack) -> None:
    lamp = a_product(stack, stock=3, price=700)
    customer = a_customer(stack)
    order_id = place(customer, (lamp, 2)).json()["id"]
    customer.post(f"/orders/{order_id}/pay", json={"payment_token": "tok_ok"})
    cancelled = customer.post(f"/orders/{order_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert shop_of(stack).get_product(UUID(lamp)).available == 3
    order = shop_of(stack).get_order(UUID(order_id))
    payment = shop_of(stack).get_payment(order.payment_id)  # type: ignore[arg-type]
    assert gateway_of(stack).refunded[payment.gateway_key] == 1400
    assert payment.status == "refunded"


def test_other_customers_orders_are_404(stack: Stack) -> None:
    owner, other = a_customer(stack), a_customer(stack)
    order_id = place(owner, (a_product(stack, stock=1), 1)).json()["id"]
    for action, body in (("pay", {"payment_token": "tok_ok"}), ("cancel", None)):
        response = other.post(f"/orders/{order_id}/{action}", json=body)
        assert response.status_code == 404, action
    assert other.post(f"/orders/{uuid4()}/cancel").status_code == 404


def test_request_bodies_over_a_mebibyte_are_413_chunked_or_not(stack: Stack) -> None:
    big = b'{"lines": [' + b" " * (1024 * 1024) + b"]}"
    customer = a_customer(stack)
    declared = customer.post("/orders", content=big, headers={"content-type": "application/json"})
    assert (declared.status_code, declared.json()["code"]) == (413, "PAYLOAD_TOO_LARGE")

    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b" " * 65536

    chunked = customer.post(
        "/orders", content=chunks(), headers={"content-type": "application/json"}
    )
    assert chunked.status_code == 413
    assert chunked.headers["content-type"] == "application/problem+json"


def test_the_sweeper_settles_a_timed_out_payment_nobody_retried(stack: Stack) -> None:
    sweeper = PaymentSweeper(shop_of(stack), settle_after_seconds=0)
    customer = a_customer(stack)
    order_id = place(customer, (a_product(stack, stock=1, price=900), 1)).json()["id"]
    assert (
        customer.post(f"/orders/{order_id}/pay", json={"payment_token": "tok_timeout"}).status_code
        == 503
    )
    sweeper.sweep_once()
    order = shop_of(stack).get_order(UUID(order_id))
    assert (order.status, order.paid_amount) == ("paid", 900)
    assert UUID(str(shop_of(stack).get_payment(order.payment_id).id)) not in sweeper.pending  # type: ignore[arg-type]


def test_the_sweeper_refunds_a_capture_whose_order_was_cancelled(stack: Stack) -> None:
    sweeper = PaymentSweeper(shop_of(stack), settle_after_seconds=0)
    customer = a_customer(stack)
    order_id = place(customer, (a_product(stack, stock=1, price=300), 1)).json()["id"]
    customer.post(f"/orders/{order_id}/pay", json={"payment_token": "tok_timeout"})
    assert customer.post(f"/orders/{order_id}/cancel").status_code == 200
    sweeper.sweep_once()
    payment = shop_of(stack).get_payment(Payment.create_id(UUID(order_id)))
    assert payment.status == "refunded"
    assert gateway_of(stack).refunded[payment.gateway_key] == 300


def test_the_sweeper_leaves_young_attempts_alone(stack: Stack) -> None:
    sweeper = PaymentSweeper(shop_of(stack), settle_after_seconds=3600)
    customer = a_customer(stack)
    order_id = place(customer, (a_product(stack, stock=1), 1)).json()["id"]
    customer.post(f"/orders/{order_id}/pay", json={"payment_token": "tok_timeout"})
    assert sweeper.sweep_once() == {}
    assert shop_of(stack).get_order(UUID(order_id)).status == "placed"
