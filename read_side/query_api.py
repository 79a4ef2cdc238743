"""The query API: serves read models only, through a SELECT-only database role."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import asynccontextmanager
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, TypeVar
from uuid import UUID

import psycopg
from fastapi import Depends, FastAPI, Header, Query, Request
from prometheus_client import make_asgi_app
from psycopg import Connection
from psycopg_pool import ConnectionPool, PoolTimeout

from contracts.auth import TokenSettings
from contracts.consistency import InvalidConsistencyTokenError, decode_token
from contracts.nul_guard import RejectNulInQuery
from contracts.problems import ProblemError, install_problem_handlers, problem_responses
from contracts.rows import (
    CustomerView,
    OrderPage,
    OrderView,
    ProductPage,
    ProductView,
    ProjectionPartition,
    SalesDay,
)
from read_side import order_queries, queries, reports
from read_side.auth import AdminCaller, Caller, Viewer, may_see
from read_side.consistency import ConsistencyTimeoutError, pending_marks, wait_for_marks
from read_side.product_search import InvalidFilterError, ProductFilter, search_products
from read_side.projection_status import projection_status

CONSISTENCY_HEADER = "X-Consistency-Token"
P = TypeVar("P")


class OrderStatus(StrEnum):
    placed = "placed"
    paid = "paid"
    shipped = "shipped"
    cancelled = "cancelled"


class ProductSort(StrEnum):
    price = "price"
    price_desc = "-price"
    by_title = "title"
    units_sold_desc = "-units_sold"
    relevance = "relevance"


class QueryContext:
    def __init__(
        self, pool: ConnectionPool[Any], schema: str, topic_prefix: str, wait_seconds: float
    ) -> None:
        self.pool = pool
        self.schema = schema
        self.topic_prefix = topic_prefix
        self.wait_seconds = wait_seconds


def _consistent_connection(projection: str) -> Any:
    """A dependency: a read connection, after the read model reflects the client's token."""

    def dependency(
        request: Request,
        token: Annotated[str | None, Header(alias=CONSISTENCY_HEADER, max_length=4096)] = None,
    ) -> Iterator[Connection[Any]]:
        ctx: QueryContext = request.app.state.query
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
    try:
        wait_for_marks(
            lambda: pending_marks(conn, ctx.schema, projection, marks, ctx.topic_prefix),
            ctx.wait_seconds,
        )
    except ConsistencyTimeoutError:
        raise ProblemError(
            503,
            "CONSISTENCY_TIMEOUT",
            f"The {projection} read model has not caught up with your write yet",
            headers={"Retry-After": "1"},
        ) from None


def page_or_422(run: Callable[[], P]) -> P:
    try:
        return run()
    except queries.InvalidCursorError as error:
        raise ProblemError(422, "INVALID_CURSOR", str(error)) from error


def _not_found(kind: str, key: object) -> ProblemError:
    return ProblemError(404, "NOT_FOUND", "No such resource", detail=f"{kind} {key} not found")


CustomersConn = Annotated[Connection[Any], Depends(_consistent_connection("customers"))]
ProductsConn = Annotated[Connection[Any], Depends(_consistent_connection("products"))]
OrdersConn = Annotated[Connection[Any], Depends(_consistent_connection("orders"))]
SalesConn = Annotated[Connection[Any], Depends(_consistent_connection("sales"))]
MAX_REPORT_DAYS = 366
Limit = Annotated[int, Query(ge=1, le=100)]
Cursor = Annotated[str | None, Query(max_length=512)]


def create_query_app(
    *,
    pool: ConnectionPool[Any],
    schema: str,
    tokens: TokenSettings,
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
    app.state.tokens = tokens
    # A query written for another table version than the live tables have (a rolling
    # deploy, before `projections rebuild` swaps the new version in) is unavailable, not
    # broken: 503 with Retry-After, so the client or balancer tries again.
    install_problem_handlers(
        app,
        unavailable=(
            psycopg.OperationalError,
            PoolTimeout,
            psycopg.errors.UndefinedTable,
            psycopg.errors.UndefinedColumn,
        ),
    )
    app.mount("/metrics", make_asgi_app())
    app.add_middleware(RejectNulInQuery)
    errors = problem_responses(400, 401, 404, 422, 503)

    @app.get("/customers/me", responses=errors)
    def get_me(caller: Caller, conn: CustomersConn) -> CustomerView:
        return get_customer(caller.sub, caller, conn)

    @app.get("/customers/{customer_id}", responses=errors)
    def get_customer(customer_id: UUID, caller: Caller, conn: CustomersConn) -> CustomerView:
        found = queries.get_customer(conn, schema, customer_id)
        if found is None or not may_see(caller, customer_id):
            raise _not_found("customer", customer_id)
        return found

    @app.get("/customers/{customer_id}/orders", responses=errors)
    def customer_orders(
        customer_id: UUID,
        caller: Caller,
        conn: OrdersConn,
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> OrderPage:
        if not may_see(caller, customer_id):
            raise _not_found("customer", customer_id)
        return page_or_422(
            lambda: order_queries.list_orders(
                conn, schema, limit=limit, cursor=cursor, customer_id=customer_id
            )
        )

    @app.get("/orders/{order_id}", responses=errors)
    def get_order(order_id: UUID, caller: Caller, conn: OrdersConn) -> OrderView:
        found = order_queries.get_order(conn, schema, order_id)
        if found is None or not may_see(caller, found.customer.id):
            raise _not_found("order", order_id)
        return found

    @app.get("/orders", responses=problem_responses(400, 401, 403, 422, 503))
    def list_orders(
        _: AdminCaller,
        conn: OrdersConn,
        limit: Limit = 20,
        cursor: Cursor = None,
        status: OrderStatus | None = None,
        customer_id: UUID | None = None,
    ) -> OrderPage:
        return page_or_422(
            lambda: order_queries.list_orders(
                conn,
                schema,
                limit=limit,
                cursor=cursor,
                customer_id=customer_id,
                status=status.value if status else None,
            )
        )

    @app.get("/products", responses=errors)
    def list_products(
        viewer: Viewer,
        conn: ProductsConn,
        limit: Limit = 20,
        cursor: Cursor = None,
        q: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
        category: Annotated[str | None, Query(max_length=100)] = None,
        min_price: Annotated[int | None, Query(ge=0)] = None,
        max_price: Annotated[int | None, Query(ge=0)] = None,
        in_stock: bool | None = None,
        sort: ProductSort | None = None,
    ) -> ProductPage:
        product_filter = ProductFilter(
            q=q,
            category=category,
            min_price=min_price,
            max_price=max_price,
            in_stock=in_stock,
            sort=sort.value if sort else None,
            include_unpublished=viewer is not None and viewer.role == "admin",
        )
        try:
            return page_or_422(
                lambda: search_products(conn, schema, product_filter, limit=limit, cursor=cursor)
            )
        except InvalidFilterError as error:
            raise ProblemError(422, "INVALID_FILTER", str(error)) from error

    @app.get("/products/{product_id}", responses=errors)
    def get_product(product_id: UUID, viewer: Viewer, conn: ProductsConn) -> ProductView:
        everything = viewer is not None and viewer.role == "admin"
        found = queries.get_product(conn, schema, product_id, include_unpublished=everything)
        if found is None:
            raise _not_found("product", product_id)
        return found

    @app.get("/reports/low-stock", responses=problem_responses(401, 403, 422, 503))
    def low_stock_report(
        _: AdminCaller,
        conn: ProductsConn,
        threshold: Annotated[int, Query(ge=0, le=10**9)] = 5,
        limit: Limit = 100,
    ) -> list[ProductView]:
        return reports.low_stock(conn, schema, threshold=threshold, limit=limit)

    @app.get("/reports/sales", responses=problem_responses(401, 403, 422, 503))
    def sales_report(
        _: AdminCaller,
        conn: SalesConn,
        start: Annotated[date, Query(alias="from")],
        end: Annotated[date, Query(alias="to")],
    ) -> list[SalesDay]:
        if end < start or (end - start).days > MAX_REPORT_DAYS:
            raise ProblemError(
                422, "INVALID_FILTER", f"'to' must be 0 to {MAX_REPORT_DAYS} days after 'from'"
            )
        return reports.sales(conn, schema, start=start, end=end)

    @app.get("/projections", responses=problem_responses(401, 403, 503))
    def projections(_: AdminCaller) -> list[ProjectionPartition]:
        with pool.connection() as conn:
            return projection_status(conn, schema)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", responses=problem_responses(503))
    def readyz() -> dict[str, str]:
        try:
            with pool.connection(timeout=2) as conn:
                conn.execute("SELECT 1")
        except (psycopg.Error, PoolTimeout) as error:
            raise ProblemError(503, "NOT_READY", "read database unavailable") from error
        return {"status": "ready"}

    return app
