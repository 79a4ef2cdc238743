"""The query API: serves read models only, through a SELECT-only database role."""

from __future__ import annotations

import psycopg
from fastapi import FastAPI, Request, Response
from psycopg_pool import PoolTimeout

from contracts.consistency import token_key
from contracts.signals import News
from http_edge.compression import GzipWhenAccepted
from http_edge.correlation import Correlation
from http_edge.health import health_router
from http_edge.install import EdgeSettings, include_limited, install_edge
from http_edge.lifespan import SharedResources
from http_edge.liveness import checked_pool
from http_edge.nul_guard import RejectNulInQuery
from http_edge.problems import install_problem_handlers
from http_edge.rate_limits import PostgresRateLimiter
from http_edge.red_metrics import RedMetrics
from http_edge.tokens import TokenSettings
from read_side.http import customers, ops_page, orders, products, reports, status
from read_side.http.deps import QueryContext
from read_side.http.validators import CatalogCache, NotModifiedError, Validators
from read_side.operations.lag_metrics import registry_with_lag
from read_side.position_watcher import PositionWatcher
from read_side.queries.cursors import CursorCodec
from read_side.queries.pools import ReadPools

#: Answers shorter than this are sent uncompressed (gzip's header costs more than it saves).
GZIP_MINIMUM_BYTES = 1024


def create_query_app(
    *,
    read_database_url: str,
    pool_size: int = 8,
    schema: str,
    tokens: TokenSettings,
    topic_prefix: str = "",
    consistency_wait_seconds: float = 2.0,
    max_waiters: int = 256,
    edge: EdgeSettings | None = None,
    rate_limits: bool = True,
    catalog_cache: CatalogCache | None = None,
    ops_login_url: str = "http://127.0.0.1:8000",
    news: News | None = None,
) -> FastAPI:
    """The query API on ``read_database_url`` (the SELECT-only role).

    ``pool_size``: connections the routes may hold at once (an asyncio pool per event loop,
    ``reads``); the threads' pool (the position watcher, rate limits, metrics, health, the
    ops page) has a quarter of that, at least 2. ``rate_limits`` counts requests through
    the threads' pool (docs/operations.md); ``ops_login_url``: the command API, which checks
    the ops page's sign-in; ``news``: the projectors' NOTIFY after each batch, for the
    position watcher (without it, it polls)."""
    pool = checked_pool(read_database_url, max(2, pool_size // 4))
    reads = ReadPools(read_database_url, max_size=pool_size)
    watcher = PositionWatcher(pool, schema, max_waiters=max_waiters, news=news)

    def open_all() -> None:
        pool.open()
        watcher.start()
        limits.start()

    def close_all() -> None:
        limits.stop()
        watcher.stop()
        pool.close()

    resources = SharedResources(open_all, close_all, open_loop=reads.open, close_loop=reads.close)
    app = FastAPI(title="eventshop query API", version="1", lifespan=resources.lifespan)
    app.state.query = QueryContext(
        pool=pool,
        reads=reads,
        schema=schema,
        topic_prefix=topic_prefix,
        wait_seconds=consistency_wait_seconds,
        token_key=token_key(tokens.secret),
        watcher=watcher,
        cursors=CursorCodec(tokens.secret),
        validators=Validators(watcher),
        catalog_cache=catalog_cache or CatalogCache(),
    )
    app.state.tokens = tokens
    app.state.ops_login_url = ops_login_url
    _install_answers(app)
    registry = registry_with_lag(pool, schema, topic_prefix)
    # Served on the worker's probe port (eventshop serve), never on the public port.
    app.state.metrics = registry
    limiter = PostgresRateLimiter(pool, schema) if rate_limits else None
    limits = install_edge(
        app, api="query", tokens=tokens, edge=edge or EdgeSettings(), limiter=limiter
    )
    for module in (customers, orders, products, reports):
        include_limited(app, module.router)
    app.include_router(status.router)
    include_limited(app, ops_page.router)

    def ping() -> None:
        with pool.connection(timeout=2) as conn:
            conn.execute("SELECT 1")

    app.include_router(health_router(ping, "read database", (psycopg.Error, PoolTimeout)))
    # Outermost: every answer counts, also the edge's own refusals (NUL, 413, 429).
    app.add_middleware(Correlation)  # a request id for every answer and log line
    app.add_middleware(RedMetrics, api="query", registry=registry)
    return app


def _install_answers(app: FastAPI) -> None:
    """Problem bodies, 304s, the NUL guard and gzip."""
    # A query written for another table version than the live tables have (a rolling
    # deploy, before `projections rebuild` swaps the new version in) is unavailable, not
    # broken: 503 with Retry-After (http_edge.problems.NOT_MIGRATED), so the client or
    # balancer tries again.
    install_problem_handlers(app, unavailable=(psycopg.OperationalError, PoolTimeout))
    app.add_middleware(RejectNulInQuery)
    # Pages of 100 products shrink to a fifth (bench.caching); small answers stay as they are.
    app.add_middleware(GzipWhenAccepted, minimum_size=GZIP_MINIMUM_BYTES)

    async def not_modified(request: Request, error: Exception) -> Response:
        assert isinstance(error, NotModifiedError)
        return Response(status_code=304, headers=error.headers)

    app.add_exception_handler(NotModifiedError, not_modified)
