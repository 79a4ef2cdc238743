"""The command API: parse input, call one application method, map errors in one table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from uuid import UUID

from eventsourcing.persistence import OperationalError, PersistenceError
from fastapi import Depends, FastAPI, Response
from fastapi.security import OAuth2PasswordRequestForm
from prometheus_client import make_asgi_app
from pydantic import BaseModel, ConfigDict, Field

from contracts.auth import TokenSettings
from contracts.problems import ProblemError, install_problem_handlers, problem_responses
from write_side.application import (
    CommandContext,
    CommandResult,
    ConcurrencyConflictError,
    InvalidCredentialsError,
    NotFoundError,
    PreconditionFailedError,
    Shop,
)
from write_side.auth import Admin, Authenticated
from write_side.command_context import command_context
from write_side.domain.errors import (
    EmailTakenError,
    InsufficientStockError,
    InvalidValueError,
    SkuTakenError,
)
from write_side.idempotency import IdempotencyKeyReusedError
from write_side.security import issue_access_token

CONSISTENCY_HEADER = "X-Consistency-Token"
MAX_MONEY = 10**12
MAX_STOCK_DELTA = 10**9

Name = Annotated[str, Field(min_length=1, max_length=200)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


Email = Annotated[str, Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")]
Password = Annotated[str, Field(min_length=8, max_length=128)]


class RegisterCustomer(Strict):
    email: Email
    name: Name
    password: Password


class ChangeCustomer(Strict):
    name: Name | None = None
    email: Email | None = None


class AccessToken(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int


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
    InvalidCredentialsError: (401, "INVALID_CREDENTIALS", "Unknown email or wrong password"),
    PreconditionFailedError: (412, "PRECONDITION_FAILED", "If-Match names a stale version"),
    IdempotencyKeyReusedError: (
        422,
        "IDEMPOTENCY_KEY_REUSED",
        "This Idempotency-Key was used for another request",
    ),
}

Context = Annotated[CommandContext, Depends(command_context)]


def _run(
    shop: Shop, ctx: CommandContext, response: Response, command: Callable[[], CommandResult]
) -> Accepted:
    """Run once per idempotency key; map domain errors; set the token and ETag headers."""
    try:
        result = shop.idempotent(ctx, command)
    except tuple(ERROR_STATUS) as error:
        status, code, title = next(v for k, v in ERROR_STATUS.items() if isinstance(error, k))
        if isinstance(error, PreconditionFailedError):
            raise ProblemError(
                status, code, title, detail=str(error), current_version=error.current
            ) from error
        raise ProblemError(status, code, title, detail=str(error)) from error
    response.headers[CONSISTENCY_HEADER] = result.consistency_token
    response.headers["ETag"] = f'"{result.version}"'
    return Accepted(
        id=result.id, version=result.version, consistency_token=result.consistency_token
    )


def create_command_app(shop: Shop, tokens: TokenSettings) -> FastAPI:
    app = FastAPI(title="eventshop command API", version="1")
    app.state.tokens = tokens
    install_problem_handlers(app, unavailable=(OperationalError, PersistenceError))
    app.mount("/metrics", make_asgi_app())
    auth_errors = (401, 403)

    @app.post("/customers", status_code=201, responses=problem_responses(400, 409, 422, 503))
    def register_customer(body: RegisterCustomer, ctx: Context, response: Response) -> Accepted:
        accepted = _run(
            shop,
            ctx,
            response,
            lambda: shop.register_customer(
                email=body.email, name=body.name, password=body.password, ctx=ctx
            ),
        )
        response.headers["Location"] = f"/customers/{accepted.id}"
        return accepted

    @app.post("/auth/token", responses=problem_responses(400, 401, 422, 503))
    def issue_token(form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> AccessToken:
        try:
            customer = shop.authenticate(email=form.username, password=form.password)
        except InvalidCredentialsError as error:
            raise ProblemError(
                401,
                "INVALID_CREDENTIALS",
                "Unknown email or wrong password",
                headers={"WWW-Authenticate": "Bearer"},
            ) from error
        issued = issue_access_token(tokens, customer.id, customer.role)
        return AccessToken(access_token=issued.access_token, expires_in=issued.expires_in)

    @app.patch(
        "/customers/{customer_id}", responses=problem_responses(400, 401, 404, 409, 412, 422, 503)
    )
    def change_customer(
        customer_id: UUID,
        body: ChangeCustomer,
        principal: Authenticated,
        ctx: Context,
        response: Response,
    ) -> Accepted:
        if not principal.may_act_for(customer_id):
            raise ProblemError(404, "NOT_FOUND", "No such resource")  # never confirm it exists
        return _run(
            shop,
            ctx,
            response,
            lambda: shop.change_customer(customer_id, name=body.name, email=body.email, ctx=ctx),
        )

    @app.post(
        "/products",
        status_code=201,
        responses=problem_responses(400, *auth_errors, 409, 422, 503),
    )
    def create_product(body: CreateProduct, _: Admin, ctx: Context, response: Response) -> Accepted:
        accepted = _run(
            shop, ctx, response, lambda: shop.create_product(**body.model_dump(), ctx=ctx)
        )
        response.headers["Location"] = f"/products/{accepted.id}"
        return accepted

    @app.post(
        "/products/{product_id}/stock",
        responses=problem_responses(400, *auth_errors, 404, 409, 412, 422, 503),
    )
    def adjust_stock(
        product_id: UUID, body: AdjustStock, _: Admin, ctx: Context, response: Response
    ) -> Accepted:
        return _run(
            shop,
            ctx,
            response,
            lambda: shop.adjust_stock(product_id, delta=body.delta, reason=body.reason, ctx=ctx),
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
