"""The fake payment gateway as an HTTP service (`eventshop gateway fake`), so every API
worker, the sweeper and the process manager see one gateway, as in production.

The same test tokens as :class:`write_side.gateway.port.FakePaymentGateway`, over the
protocol :class:`write_side.gateway.http_adapter.HttpPaymentGateway` speaks: ``POST /captures``
and ``POST /refunds`` with the idempotency key. ``tok_timeout`` captures, then holds the
answer ``hold_seconds`` (longer than any client waits); ``tok_error`` answers 502.
State is in memory: restarting the fake forgets every capture.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from write_side.gateway.port import FakePaymentGateway, GatewayError, GatewayTimeoutError

Key = Annotated[str, Field(min_length=1, max_length=200)]


class CaptureBody(BaseModel):
    key: Key
    amount: int = Field(ge=0)
    token: str = Field(max_length=100)


class RefundBody(BaseModel):
    key: Key
    amount: int = Field(ge=0)


def create_fake_gateway_app(hold_seconds: float = 10.0) -> FastAPI:
    fake = FakePaymentGateway()
    app = FastAPI(title="eventshop fake payment gateway", version="1")
    app.state.fake = fake
    app.state.captures_asked = 0  # how many capture requests reached the fake

    @app.post("/captures", response_model=None)
    async def capture(body: CaptureBody) -> dict[str, Any] | JSONResponse:
        app.state.captures_asked += 1
        try:
            result = fake.capture(key=body.key, amount=body.amount, token=body.token)
        except GatewayTimeoutError:
            await asyncio.sleep(hold_seconds)  # captured; the answer comes too late
            return {"outcome": "captured", "reason": ""}
        except GatewayError as error:
            return JSONResponse({"error": str(error)}, status_code=502)
        return {"outcome": result.outcome, "reason": result.reason}

    @app.post("/refunds", response_model=None)
    async def refund(body: RefundBody) -> dict[str, Any] | JSONResponse:
        try:
            fake.refund(key=body.key, amount=body.amount)
        except GatewayError as error:
            return JSONResponse({"error": str(error)}, status_code=409)
        return {"refunded": body.amount}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
