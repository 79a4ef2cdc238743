"""What every query route shares: the request's context, consistent connections, errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Query, Request, Response
from psycopg import AsyncConnection
from psycopg_pool import ConnectionPool

from contracts.consistency import InvalidConsistencyTokenError, PartitionMark, decode_token
from http_edge.bearer import Credentials, Need, claims_of
from http_edge.headers import CONSISTENCY_HEADER
from http_edge.problems import ProblemError
from http_edge.tokens import AccessClaims
from read_side.consistency import (
    BeyondHeadError,
    ConsistencyTimeoutError,
    TooManyWaitersError,
    relevant_marks,
)
from read_side.http.validators import CatalogCache, Validators
from read_side.position_watcher import PositionWatcher
from read_side.queries.cursors import CursorCodec, InvalidCursorError
from read_side.queries.pools import ReadPools

P = TypeVar("P")
R = TypeVar("R")


@dataclass(frozen=True)
class QueryContext:
    pool: ConnectionPool[Any]
    reads: ReadPools
    schema: str
    topic_prefix: str
    wait_seconds: float
    token_key: bytes
    watcher: PositionWatcher
    cursors: CursorCodec
    validators: Validators
    catalog_cache: CatalogCache


async def query_context(request: Request) -> QueryContext:
    ctx: QueryContext = request.app.state.query
    return ctx


Ctx = Annotated[QueryContext, Depends(query_context)]


async def _wait_for_token(ctx: QueryContext, projection: str, token: str) -> None:
    """Return once ``projection`` reflects the client's token.

    A coroutine awaiting the process's position watcher, so a waiting request holds
    neither a pooled connection nor a worker thread (docs/operations.md, read-your-writes).
    """
    try:
        marks = _decoded(token, ctx.token_key)
    except InvalidConsistencyTokenError as error:
        raise ProblemError(400, "INVALID_CONSISTENCY_TOKEN", str(error)) from error
    relevant = relevant_marks(projection, list(marks), ctx.topic_prefix)
    try:
        await ctx.watcher.wait(projection, relevant, ctx.wait_seconds)
    except BeyondHeadError:
        raise ProblemError(
            400,
            "INVALID_CONSISTENCY_TOKEN",
            "The consistency token names events this event store does not have",
        ) from None
    except ConsistencyTimeoutError:
        raise _unavailable(
            "CONSISTENCY_TIMEOUT", f"The {projection} read model has not caught up yet"
        ) from None
    except TooManyWaitersError:
        raise _unavailable(
            "TOO_MANY_WAITERS", "Too many queries are waiting for their writes"
        ) from None


@lru_cache(maxsize=4096)
def _decoded(token: str, key: bytes) -> tuple[PartitionMark, ...]:
    """Clients poll with one token: check its signature once (refusals are not kept)."""
    return tuple(decode_token(token, key))


def _unavailable(code: str, title: str) -> ProblemError:
    return ProblemError(503, code, title, headers={"Retry-After": "1"})


@dataclass(frozen=True)
class Reader:
    """What a query route needs, resolved in one dependency: the process's context, who
    asks, and a way to run a query on a pooled read connection, on the event loop (no
    worker thread: a query neither waits for nor holds one; read_side/queries/pools.py)."""

    ctx: QueryContext
    #: The caller's claims; None only for an anonymous caller where anyone may read.
    claims: AccessClaims | None

    @property
    def caller(self) -> AccessClaims:
        """The claims of a route that requires a caller (its dependency refused anonymous)."""
        assert self.claims is not None, "this route's reader allows anonymous callers"
        return self.claims

    async def __call__(self, query: Callable[[AsyncConnection[Any]], Awaitable[R]]) -> R:
        async with self.ctx.reads.connection() as conn:
            return await query(conn)


def _consistent_reader(
    projection: str, *, need: Need = "anyone", public: bool = False
) -> Callable[..., Any]:
    """A dependency: a :class:`Reader`, given after the bearer token's check (``need``:
    ``anyone``, ``caller`` or ``admin``; http_edge/bearer.py), the consistency token's
    wait, and the ETag check (a matching If-None-Match answers 304 here;
    read_side/http/validators.py). One node for FastAPI to solve instead of a chain (the
    context, the wait, the claims): a by-id query's CPU 1,155 -> 930 us (docs/benchmarks.md).

    ``public``: anonymous answers without a token may be cached by anyone (the catalog).
    """

    async def dependency(
        request: Request,
        response: Response,
        credentials: Credentials,
        token: Annotated[str | None, Header(alias=CONSISTENCY_HEADER, max_length=4096)] = None,
    ) -> Reader:
        claims = claims_of(request, credentials, need)
        ctx: QueryContext = request.app.state.query
        if token:
            await _wait_for_token(ctx, projection, token)
        if request.method == "GET":
            if public:
                _catalog_policy(request, response, ctx.catalog_cache)
            await ctx.validators.check(request, response, projection)
        return Reader(ctx, claims)

    return dependency


def _catalog_policy(request: Request, response: Response, cache: CatalogCache) -> None:
    # A shared cache keys its copies by these request headers too, so it never answers a
    # token read, or a signed-in client, with an anonymous copy (docs/operations.md).
    response.headers["Vary"] = f"Authorization, Accept-Encoding, {CONSISTENCY_HEADER}"
    if CONSISTENCY_HEADER.lower() in request.headers:
        response.headers["Cache-Control"] = "no-store"  # answered fresh, for this client
    elif "authorization" not in request.headers:
        response.headers["Cache-Control"] = cache.header()


#: Readers by read model and by who may ask.
CustomersRead = Annotated[Reader, Depends(_consistent_reader("customers", need="caller"))]
CatalogRead = Annotated[Reader, Depends(_consistent_reader("products", public=True))]
OrdersRead = Annotated[Reader, Depends(_consistent_reader("orders", need="caller"))]
AdminOrdersRead = Annotated[Reader, Depends(_consistent_reader("orders", need="admin"))]
AdminProductsRead = Annotated[Reader, Depends(_consistent_reader("products", need="admin"))]
AdminSalesRead = Annotated[Reader, Depends(_consistent_reader("sales", need="admin"))]
Limit = Annotated[int, Query(ge=1, le=100)]
Cursor = Annotated[str | None, Query(max_length=512)]


async def page_or_422(page: Awaitable[P]) -> P:
    try:
        return await page
    except InvalidCursorError as error:
        raise ProblemError(422, "INVALID_CURSOR", str(error)) from error


def not_found(kind: str, key: object) -> ProblemError:
    return ProblemError(404, "NOT_FOUND", "No such resource", detail=f"{kind} {key} not found")
