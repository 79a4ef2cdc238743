"""Domain and application errors → HTTP problems: the only place they meet."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from contracts.upcasting import UnknownEventTypeError
from http_edge.problems import ProblemError, problem_response
from write_side.application.passwords import HashingBusyError
from write_side.application.shop import (
    ConcurrencyConflictError,
    InvalidCredentialsError,
    NotFoundError,
    OutOfStockError,
    PaymentDeclinedError,
    PaymentGatewayFailedError,
    PaymentPendingError,
    PreconditionFailedError,
)
from write_side.domain.errors import (
    CustomerErasedError,
    EmailTakenError,
    InsufficientStockError,
    InvalidTransitionError,
    InvalidValueError,
    SkuTakenError,
)
from write_side.gateway.breaker import GatewayUnavailableError
from write_side.persistence.recorder import IdempotencyKeyReusedError

#: error → (status, code, title)
ERROR_STATUS: dict[type[Exception], tuple[int, str, str]] = {
    NotFoundError: (404, "NOT_FOUND", "No such resource"),
    EmailTakenError: (409, "EMAIL_TAKEN", "That email is already registered"),
    CustomerErasedError: (410, "CUSTOMER_ERASED", "This customer was erased"),
    SkuTakenError: (409, "SKU_TAKEN", "That sku already exists"),
    InsufficientStockError: (409, "INSUFFICIENT_STOCK", "Not enough stock on hand"),
    OutOfStockError: (409, "OUT_OF_STOCK", "Not enough stock for some lines; nothing reserved"),
    InvalidTransitionError: (409, "INVALID_TRANSITION", "Not allowed in the current state"),
    ConcurrencyConflictError: (
        409,
        "CONCURRENT_MODIFICATION",
        "Another request changed this resource first; retry",
    ),
    InvalidValueError: (422, "INVALID_VALUE", "The request breaks a domain rule"),
    InvalidCredentialsError: (401, "INVALID_CREDENTIALS", "Unknown email or wrong password"),
    PreconditionFailedError: (412, "PRECONDITION_FAILED", "If-Match names a stale version"),
    IdempotencyKeyReusedError: (
        422,
        "IDEMPOTENCY_KEY_REUSED",
        "This Idempotency-Key was used for another request",
    ),
    PaymentDeclinedError: (402, "PAYMENT_DECLINED", "The payment was declined"),
    PaymentPendingError: (
        503,
        "PAYMENT_PENDING",
        "The gateway did not answer; pay again to learn the outcome",
    ),
    PaymentGatewayFailedError: (502, "PAYMENT_GATEWAY_ERROR", "The payment gateway failed"),
    GatewayUnavailableError: (
        503,
        "PAYMENT_GATEWAY_UNAVAILABLE",
        "The payment gateway is failing; it was not called. Pay again later",
    ),
    HashingBusyError: (503, "BUSY", "Too many sign-ins and registrations at once; retry"),
    # During a rolling deploy: a newer release wrote this resource's latest events (a new
    # type or schema version); an instance of that release can serve the retry.
    UnknownEventTypeError: (
        503,
        "NEEDS_UPGRADE",
        "A newer release changed this resource; this server cannot read it. Retry",
    ),
}

HANDLED: tuple[type[Exception], ...] = tuple(ERROR_STATUS)


def _extra(error: Exception) -> dict[str, Any]:
    if isinstance(error, PreconditionFailedError):
        return {"current_version": error.current}
    if isinstance(error, OutOfStockError):
        return {"lines": error.lines}
    if isinstance(error, InvalidTransitionError):
        return {"state": error.state}
    return {}


def problem_for(error: Exception) -> ProblemError:
    status, code, title = next(v for k, v in ERROR_STATUS.items() if isinstance(error, k))
    retry_after = error.retry_after if isinstance(error, GatewayUnavailableError) else 1
    headers = {"Retry-After": str(retry_after)} if status == 503 else None
    return ProblemError(status, code, title, str(error), headers, **_extra(error))


def install_error_handlers(app: FastAPI) -> None:
    """Every error a use case may raise answers its problem (``ERROR_STATUS``), once for
    the whole app: routes make one call inward and catch nothing."""

    async def on_error(_: Request, exc: Exception) -> JSONResponse:
        problem = problem_for(exc)
        return problem_response(problem.problem, problem.headers)

    for error_type in HANDLED:
        app.add_exception_handler(error_type, on_error)
