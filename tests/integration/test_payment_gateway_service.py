"""The HTTP gateway adapter against the fake gateway service over real HTTP, and the
command API's circuit breaker in front of it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from tests.integration.test_orders import a_customer, a_product, place
from tests.support.metrics import metrics_of
from tests.support.served import free_port, served
from tests.support.stack import Servers, Stack, running_stack
from write_side.gateway.fake_service import create_fake_gateway_app
from write_side.gateway.http_adapter import HttpPaymentGateway
from write_side.gateway.port import GatewayError, GatewayTimeoutError


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[FastAPI, str]]:
    app = create_fake_gateway_app(hold_seconds=3)
    with served(app) as url:
        yield app, url


def test_the_adapter_maps_each_answer_of_the_service(fake: tuple[FastAPI, str]) -> None:
    _, url = fake
    gateway = HttpPaymentGateway(url, timeout=0.5)
    assert gateway.capture(key="a", amount=100, token="tok_ok").outcome == "captured"
    assert gateway.capture(key="a", amount=100, token="tok_ok").outcome == "captured"  # again
    declined = gateway.capture(key="b", amount=100, token="tok_declined")
    assert (declined.outcome, declined.reason) == ("declined", "card declined")
    with pytest.raises(GatewayError):
        gateway.capture(key="c", amount=100, token="tok_error")
    gateway.refund(key="a", amount=100)
    with pytest.raises(GatewayError):
        gateway.refund(key="never-captured", amount=100)


def test_a_timeout_is_recoverable_with_the_same_key(fake: tuple[FastAPI, str]) -> None:
    app, url = fake
    gateway = HttpPaymentGateway(url, timeout=0.5)
    with pytest.raises(GatewayTimeoutError):
        gateway.capture(key="t", amount=700, token="tok_timeout")
    assert app.state.fake.captured["t"] == 700  # it did capture; the answer was late
    assert gateway.capture(key="t", amount=700, token="tok_ok").outcome == "captured"


def test_an_unreachable_gateway_is_an_error_not_a_pending_capture() -> None:
    with pytest.raises(GatewayError):
        HttpPaymentGateway(f"http://127.0.0.1:{free_port()}", timeout=0.5).capture(
            key="u", amount=1, token="tok_ok"
        )


@pytest.fixture(scope="module")
def stack(servers: Servers, fake: tuple[FastAPI, str]) -> Iterator[Stack]:
    _, url = fake
    with running_stack(
        servers, gateway_url=url, gateway_breaker_failures=3, gateway_breaker_reset_seconds=1
    ) as stack:
        yield stack


def pay(stack: Stack, token: str) -> Any:
    customer = a_customer(stack)
    order = place(customer, (a_product(stack, stock=1), 1)).json()["id"]
    return customer.post(f"/orders/{order}/pay", json={"payment_token": token})


def test_three_gateway_errors_open_the_breaker_and_the_next_pay_is_503_at_once(
    stack: Stack, fake: tuple[FastAPI, str]
) -> None:
    app, _ = fake
    for _ in range(3):
        failed = pay(stack, "tok_error")
        assert (failed.status_code, failed.json()["code"]) == (502, "PAYMENT_GATEWAY_ERROR")
    asked = app.state.captures_asked
    assert stack.commands.get("/readyz").json()["payment_gateway_breaker"] == "open"

    refused = pay(stack, "tok_ok")

    assert (refused.status_code, refused.json()["code"]) == (503, "PAYMENT_GATEWAY_UNAVAILABLE")
    assert refused.headers["Retry-After"] == "1"
    assert app.state.captures_asked == asked  # the gateway was not called
    metrics = metrics_of(stack.commands)
    assert "eventshop_payment_gateway_breaker_state 2.0" in metrics
    assert "eventshop_aggregate_cache_hits_total" in metrics  # the write side's cache, too

    # After the reset window one trial goes through; it succeeds and closes the breaker.
    time.sleep(1.1)
    assert pay(stack, "tok_ok").status_code == 200
    assert stack.commands.get("/readyz").json()["payment_gateway_breaker"] == "closed"
