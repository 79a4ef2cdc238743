"""The payment-gateway port and the deterministic fake that ships with the project.

Fake gateway test tokens (docs/api.md, "Command API"):

=============== ==============================================================
``tok_ok``      captures
``tok_declined`` declines (the order answers 402)
``tok_timeout`` captures, then the answer is lost: the call raises a timeout
``tok_error``   fails with a gateway error; nothing is captured
=============== ==============================================================

Captures and refunds are idempotent on their key, like real gateways: asking again
returns the first outcome. That is what makes ``tok_timeout`` recoverable.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal, Protocol

Outcome = Literal["captured", "declined"]


class GatewayTimeoutError(Exception):
    """No answer in time: the capture may or may not have happened."""


class GatewayError(Exception):
    """The gateway refused to process the request; nothing was captured."""


@dataclass(frozen=True)
class CaptureResult:
    outcome: Outcome
    reason: str = ""


class PaymentGateway(Protocol):
    def capture(self, *, key: str, amount: int, token: str) -> CaptureResult: ...

    def refund(self, *, key: str, amount: int) -> None: ...


class FakePaymentGateway:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.captured: dict[str, int] = {}
        self.refunded: dict[str, int] = {}
        self._declined: set[str] = set()

    def capture(self, *, key: str, amount: int, token: str) -> CaptureResult:
        with self._lock:
            if key in self.captured:
                return CaptureResult("captured")
            if key in self._declined:
                return CaptureResult("declined", "card declined")
            if token == "tok_declined":
                self._declined.add(key)
                return CaptureResult("declined", "card declined")
            if token == "tok_error":
                raise GatewayError("the gateway could not process the payment")
            if token not in ("tok_ok", "tok_timeout"):
                self._declined.add(key)
                return CaptureResult("declined", "unknown payment token")
            self.captured[key] = amount
        if token == "tok_timeout":
            raise GatewayTimeoutError("no answer from the gateway")
        return CaptureResult("captured")

    def refund(self, *, key: str, amount: int) -> None:
        with self._lock:
            if key not in self.captured:
                raise GatewayError(f"nothing captured under {key}")
            self.refunded.setdefault(key, amount)
