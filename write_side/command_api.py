"""The command API: parse input, call one application method, map errors in one table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from uuid import UUID

from eventsourcing.persistence import OperationalError, PersistenceError
from fastapi import FastAPI, Response
from prometheus_client import make_asgi_app
from pydantic import BaseModel, ConfigDict, Field

from contracts.problems import ProblemError, install_problem_handlers, problem_responses
from write_side.application import (
    CommandResult,
    ConcurrencyConflictError,
    NotFoundError,
    Shop,
)
from write_side.domain.errors import (
    EmailTakenError,
    InsufficientStockError,
    InvalidValueError,
    SkuTakenError,
)

CONSISTENCY_HEADER = "X-Consistency-Token"
MAX_MONEY = 10**12
MAX_STOCK_DELTA = 10**9

Name = Annotated[str, Field(min_length=1, max_length=200)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class RegisterCustomer(Strict):
    email: Annotated[str, Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")]
    name: Name


class CreateProduct(Strict):
    sku: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
    title: Name
    description: Annotated[str, Field(max_length=5000)] = ""
    category: Annotated[str, Field(max_length=100)] = ""
    price: Annotated[int, Field(strict=True, ge=0, le=MAX_MONEY)]


class AdjustStock(Strict):
    delta: Annotated[int, Field(strict=True, ge=-MAX_STOCK_DELTA, le=MAX_STOCK_DELTA)]
    reason: Annotated[str, Field(max_length=200)] = ""


class Accepted(BaseModel):
    id: UUID
    version: int
    consistency_token: str


#: Domain error → (status, code, title). The only place where errors meet HTTP.
ERROR_STATUS: dict[type[Exception], tuple[int, str, str]] = {
    NotFoundError: (404, "NOT_FOUND", "No such resource"),
    EmailTakenError: (409, "EMAIL_TAKEN", "That email is already registered"),
    SkuTakenError: (409, "SKU_TAKEN", "That sku already exists"),
    InsufficientStockError: (409, "INSUFFICIENT_STOCK", "Not enough stock on hand"),
    ConcurrencyConflictError: (
        409,
        "CONCURRENT_MODIFICATION",
        "Another request changed this resource first; retry",
    ),
    InvalidValueError: (422, "INVALID_VALUE", "The request breaks a domain rule"),
}


def _run(response: Response, command: Callable[[], CommandResult]) -> Accepted:
    try:
        result = command()
    except tuple(ERROR_STATUS) as error:
        status, code, title = next(v for k, v in ERROR_STATUS.items() if isinstance(error, k))
        raise ProblemError(status, code, title, detail=str(error)) from error
    response.headers[CONSISTENCY_HEADER] = result.consistency_token
    return Accepted(
        id=result.id, version=result.version, consistency_token=result.consistency_token
    )


def create_command_app(shop: Shop) -> FastAPI:
    app = FastAPI(title="eventshop command API", version="1")
    install_problem_handlers(app, unavailable=(OperationalError, PersistenceError))
    app.mount("/metrics", make_asgi_app())

    @app.post("/customers", status_code=201, responses=problem_responses(400, 409, 422, 503))
    def register_customer(body: RegisterCustomer, response: Response) -> Accepted:
        accepted = _run(response, lambda: shop.register_customer(email=body.email, name=body.name))
        response.headers["Location"] = f"/customers/{accepted.id}"
        return accepted

    @app.post("/products", status_code=201, responses=problem_responses(400, 409, 422, 503))
    def create_product(body: CreateProduct, response: Response) -> Accepted:
        accepted = _run(response, lambda: shop.create_product(**body.model_dump()))
        response.headers["Location"] = f"/products/{accepted.id}"
        return accepted

    @app.post("/products/{product_id}/stock", responses=problem_responses(400, 404, 409, 422, 503))
    def adjust_stock(product_id: UUID, body: AdjustStock, response: Response) -> Accepted:
        return _run(
            response, lambda: shop.adjust_stock(product_id, delta=body.delta, reason=body.reason)
        )

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", responses=problem_responses(503))
    def readyz() -> dict[str, Any]:
        try:
            shop.recorder.max_notification_id()
        except PersistenceError as error:
            raise ProblemError(503, "NOT_READY", "event store unavailable") from error
        return {"status": "ready"}

    return app
