"""A circuit breaker around the payment gateway: a failing gateway is not called again
and again while customers wait; pay attempts answer 503 at once until a trial call
succeeds (docs/operations.md, "Payments").

pybreaker's state machine: after ``failures`` consecutive failures or timeouts (a
decline is an answer, not a failure) the breaker opens; for ``reset_seconds`` every call
raises :class:`GatewayUnavailableError` without reaching the gateway; then the next call
is a trial (half-open): success closes the breaker, failure opens it again. The call that
trips it still raises its own error (502, or 503 pending for a timeout).

One breaker per process: with several API workers each opens after its own failures, so
a dead gateway sees at most ``failures`` calls per worker per ``reset_seconds``. That
bound is the point of a breaker here; sharing its state through PostgreSQL would add a
round trip to every payment for a tighter bound nobody needs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

import pybreaker
from prometheus_client import Counter, Gauge

from write_side.gateway.port import CaptureResult, PaymentGateway

T = TypeVar("T")

STATES = {pybreaker.STATE_CLOSED: 0, pybreaker.STATE_HALF_OPEN: 1, pybreaker.STATE_OPEN: 2}
BREAKER_STATE = Gauge(
    "eventshop_payment_gateway_breaker_state",
    "The payment gateway's circuit breaker in this process: 0 closed, 1 half-open, 2 open",
)
REFUSED = Counter(
    "eventshop_payment_gateway_refused_total",
    "Gateway calls refused by the open circuit breaker, without calling the gateway",
)


class GatewayUnavailableError(Exception):
    """The breaker is open: the gateway was not called. Try again after ``retry_after`` s."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"the payment gateway is failing; retry in {retry_after} s")
        self.retry_after = retry_after


class _Gauge(pybreaker.CircuitBreakerListener):
    def state_change(
        self,
        cb: pybreaker.CircuitBreaker,
        old_state: pybreaker.CircuitBreakerState | None,
        new_state: pybreaker.CircuitBreakerState,
    ) -> None:
        BREAKER_STATE.set(STATES.get(new_state.name, 0))


class BreakingGateway:
    """A :class:`PaymentGateway` whose calls go through one circuit breaker."""

    def __init__(
        self, gateway: PaymentGateway, *, failures: int = 5, reset_seconds: float = 30.0
    ) -> None:
        self.gateway = gateway
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=failures,
            reset_timeout=reset_seconds,
            throw_new_error_on_trip=False,
            listeners=[_Gauge()],
            name="payment-gateway",
        )
        BREAKER_STATE.set(0)

    @property
    def state(self) -> str:
        return str(self.breaker.current_state)

    def retry_after(self) -> int:
        """Whole seconds until the breaker lets a trial call through (at least 1)."""
        opened_at = self.breaker._state_storage.opened_at
        if opened_at is None:
            return 1
        left = self.breaker.reset_timeout - (datetime.now(UTC) - opened_at).total_seconds()
        return max(1, math.ceil(left))

    def capture(self, *, key: str, amount: int, token: str) -> CaptureResult:
        return self._call(lambda: self.gateway.capture(key=key, amount=amount, token=token))

    def refund(self, *, key: str, amount: int) -> None:
        self._call(lambda: self.gateway.refund(key=key, amount=amount))

    def _call(self, call: Callable[[], T]) -> T:
        try:
            return self.breaker.call(call)
        except pybreaker.CircuitBreakerError as error:
            REFUSED.inc()
            raise GatewayUnavailableError(self.retry_after()) from error
