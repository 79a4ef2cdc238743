"""The query API: serves read models only, through a SELECT-only database role."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any
from uuid import UUID

import psycopg
from fastapi import Depends, FastAPI, Header, Query, Request
from prometheus_client import make_asgi_app
from psycopg import Connection
from psycopg_pool import ConnectionPool, PoolTimeout

from contracts.consistency import InvalidConsistencyTokenError, decode_token
from contracts.problems import ProblemError, install_problem_handlers, problem_responses
from contracts.rows import CustomerView, ProductPage, ProductView
from read_side import queries
from read_side.consistency import ConsistencyTimeoutError, pending_marks, wait_for_marks

CONSISTENCY_HEADER = "X-Consistency-Token"


class QueryContext:
    def __init__(
        self, pool: ConnectionPool[Any], schema: str, topic_prefix: str, wait_seconds: float
    ) -> None:
        self.pool = pool
        self.schema = schema
        self.topic_prefix = topic_prefix
        self.wait_seconds = wait_seconds


def _context(request: Request) -> QueryContext:
    ctx: QueryContext = request.app.state.query
    return ctx


def _consistent_connection(projection: str) -> Any:
    """A dependency: a read connection, after the read model reflects the client's token."""

    def dependency(
        request: Request,
        token: Annotated[str | None, Header(alias=CONSISTENCY_HEADER, max_length=4096)] = None,
    ) -> Iterator[Connection[Any]]:
        ctx = _context(request)
        with ctx.pool.connection() as conn:
            if token:
                _wait(conn, ctx, projection, token)
            yield conn

    return dependency


def _wait(conn: Connection[Any], ctx: QueryContext, projection: str, token: str) -> None:
    try:
        marks = decode_token(token)
    except InvalidConsistencyTokenError as error:
        raise ProblemError(400, "INVALID_CONSISTENCY_TOKEN", str(error)) from error

    def check() -> list[Any]:
        return pending_marks(conn, ctx.schema, projection, marks, ctx.topic_prefix)

    try:
        wait_for_marks(check, ctx.wait_seconds)
    except ConsistencyTimeoutError:
        raise ProblemError(
            503,
            "CONSISTENCY_TIMEOUT",
            f"The {projection} read model has not caught up with your write yet",
            headers={"Retry-After": "1"},
        ) from None


CustomersConn = Annotated[Connection[Any], Depends(_consistent_connection("customers"))]
ProductsConn = Annotated[Connection[Any], Depends(_consistent_connection("products"))]


def create_query_app(
    *,
    pool: ConnectionPool[Any],
    schema: str,
    topic_prefix: str = "",
    consistency_wait_seconds: float = 2.0,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> Any:
        pool.open()
        yield
        pool.close()

    app = FastAPI(title="eventshop query API", version="1", lifespan=lifespan)
    app.state.query = QueryContext(pool, schema, topic_prefix, consistency_wait_seconds)
    install_problem_handlers(app, unavailable=(psycopg.OperationalError, PoolTimeout))
    app.mount("/metrics", make_asgi_app())
    errors = problem_responses(400, 404, 422, 503)

    @app.get("/customers/{customer_id}", responses=errors)
    def get_customer(customer_id: UUID, conn: CustomersConn) -> CustomerView:
        found = queries.get_customer(conn, schema, customer_id)
        if found is None:
            raise ProblemError(404, "NOT_FOUND", f"customer {customer_id} not found")
        return found

    @app.get("/products", responses=errors)
    def list_products(
        conn: ProductsConn,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        cursor: Annotated[str | None, Query(max_length=512)] = None,
    ) -> ProductPage:
        try:
            return queries.list_products(conn, schema, limit=limit, cursor=cursor)
        except queries.InvalidCursorError as error:
            raise ProblemError(422, "INVALID_CURSOR", str(error)) from error

    @app.get("/products/{product_id}", responses=errors)
    def get_product(product_id: UUID, conn: ProductsConn) -> ProductView:
        found = queries.get_product(conn, schema, product_id)
        if found is None:
            raise ProblemError(404, "NOT_FOUND", f"product {product_id} not found")
        return found

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", responses=problem_responses(503))
    def readyz() -> dict[str, str]:
        try:
            with pool.connection(timeout=2) as conn:
                conn.execute("SELECT 1")
        except Exception as error:
            raise ProblemError(503, "NOT_READY", "read database unavailable") from error
        return {"status": "ready"}

    return app
