"""The payment-gateway port over HTTP: what production uses against a provider, and
what every process uses against `eventshop gateway fake` in development.

Each call carries its idempotency key (``Idempotency-Key`` and in the body): asking
again with the same key returns the first outcome, which is what makes a timeout
recoverable. Errors map onto the port's: no answer within ``timeout``, or a connection
lost after sending, is :class:`GatewayTimeoutError` (the capture may have happened); no
connection at all, a non-200 or an unreadable answer is :class:`GatewayError`; a 200 is
the outcome.
"""

from __future__ import annotations

from typing import Any

import httpx2

from write_side.gateway.port import CaptureResult, GatewayError, GatewayTimeoutError


class HttpPaymentGateway:
    def __init__(self, base_url: str, *, timeout: float = 2.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._client = httpx2.Client(base_url=self.base_url, timeout=timeout)

    def capture(self, *, key: str, amount: int, token: str) -> CaptureResult:
        body = self._post("/captures", key, {"key": key, "amount": amount, "token": token})
        outcome, reason = body.get("outcome"), str(body.get("reason", ""))
        if outcome not in ("captured", "declined"):
            raise GatewayError(f"the gateway answered an unknown outcome {outcome!r}")
        return CaptureResult(outcome, reason)

    def refund(self, *, key: str, amount: int) -> None:
        self._post("/refunds", key, {"key": key, "amount": amount})

    def close(self) -> None:
        self._client.close()

    def _post(self, path: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            answer = self._client.post(path, json=body, headers={"Idempotency-Key": key})
        except httpx2.ConnectError as error:  # nothing was sent: nothing can have happened
            raise GatewayError(f"the gateway is unreachable: {error}") from error
        except httpx2.TimeoutException as error:
            raise GatewayTimeoutError(f"no answer from the gateway in {self.timeout} s") from error
        except httpx2.TransportError as error:  # sent, then the answer was lost
            raise GatewayTimeoutError(f"the gateway's answer was lost: {error}") from error
        if answer.status_code != 200:
            raise GatewayError(f"the gateway answered {answer.status_code}: {answer.text[:200]}")
        try:
            found: dict[str, Any] = answer.json()
        except ValueError as error:
            raise GatewayError("the gateway answered something that is not JSON") from error
        return found
