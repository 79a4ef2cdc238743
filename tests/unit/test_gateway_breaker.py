"""The payment gateway's circuit breaker, around a counting fake (no servers)."""

from __future__ import annotations

import time

import pytest

from write_side.gateway.breaker import BreakingGateway, GatewayUnavailableError
from write_side.gateway.port import CaptureResult, FakePaymentGateway, GatewayError


class Counting(FakePaymentGateway):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def capture(self, *, key: str, amount: int, token: str) -> CaptureResult:
        self.calls += 1
        return super().capture(key=key, amount=amount, token=token)


def fail(gateway: BreakingGateway, times: int) -> None:
    for n in range(times):
        with pytest.raises(GatewayError):  # the failure itself, also the one that trips it
            gateway.capture(key=f"k{n}", amount=1, token="tok_error")


def test_consecutive_failures_open_it_and_then_the_gateway_is_not_called() -> None:
    inner = Counting()
    gateway = BreakingGateway(inner, failures=3, reset_seconds=30)
    fail(gateway, 3)
    assert gateway.state == "open"
    with pytest.raises(GatewayUnavailableError) as refused:
        gateway.capture(key="after", amount=1, token="tok_ok")
    assert inner.calls == 3
    assert 1 <= refused.value.retry_after <= 30


def test_declines_are_answers_not_failures() -> None:
    gateway = BreakingGateway(Counting(), failures=2, reset_seconds=30)
    for n in range(5):
        assert gateway.capture(key=f"d{n}", amount=1, token="tok_declined").outcome == "declined"
    assert gateway.state == "closed"


def test_a_success_resets_the_count() -> None:
    gateway = BreakingGateway(Counting(), failures=3, reset_seconds=30)
    fail(gateway, 2)
    assert gateway.capture(key="ok", amount=1, token="tok_ok").outcome == "captured"
    fail(gateway, 2)
    assert gateway.state == "closed"


def test_after_the_reset_window_one_trial_call_closes_it_again() -> None:
    inner = Counting()
    gateway = BreakingGateway(inner, failures=1, reset_seconds=0.2)
    fail(gateway, 1)
    with pytest.raises(GatewayUnavailableError):
        gateway.capture(key="early", amount=1, token="tok_ok")
    time.sleep(0.3)  # the reset window passes
    assert gateway.capture(key="trial", amount=1, token="tok_ok").outcome == "captured"
    assert gateway.state == "closed"
    assert inner.calls == 2


def test_a_failed_trial_opens_it_again() -> None:
    gateway = BreakingGateway(Counting(), failures=1, reset_seconds=0.2)
    fail(gateway, 1)
    time.sleep(0.3)
    with pytest.raises(GatewayError):
        gateway.capture(key="trial", amount=1, token="tok_error")
    assert gateway.state == "open"


def test_each_process_has_its_own_breaker() -> None:
    # One gateway, two API workers: one worker's failures do not refuse the other's calls.
    shared = Counting()
    first = BreakingGateway(shared, failures=2, reset_seconds=30)
    second = BreakingGateway(shared, failures=2, reset_seconds=30)
    fail(first, 2)
    assert (first.state, second.state) == ("open", "closed")
    assert second.capture(key="other", amount=1, token="tok_ok").outcome == "captured"
