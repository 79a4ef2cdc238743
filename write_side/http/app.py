"""The command API: the app, its error handling, its routers and health endpoints."""

from __future__ import annotations

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError, PersistenceError
from fastapi import FastAPI
from prometheus_client import REGISTRY
from psycopg_pool import PoolTimeout

from http_edge.correlation import Correlation
from http_edge.health import health_router
from http_edge.install import EdgeSettings, include_limited, install_edge
from http_edge.lifespan import SharedResources
from http_edge.nul_guard import RejectNulInQuery
from http_edge.problems import install_problem_handlers
from http_edge.rate_limits import PostgresRateLimiter
from http_edge.red_metrics import RedMetrics, app_registry
from http_edge.tokens import TokenSettings
from write_side.application.shop import Shop
from write_side.gateway.breaker import BreakingGateway
from write_side.http import catalog, customers, orders
from write_side.http.body_size import BodySizeLimit
from write_side.http.errors import install_error_handlers
from write_side.persistence.aggregate_cache import CacheMetrics, MeasuredCache

MAX_BODY_BYTES = 1024 * 1024


def create_command_app(
    shop: Shop,
    tokens: TokenSettings,
    *,
    edge: EdgeSettings | None = None,
    limiter: PostgresRateLimiter | None = None,
) -> FastAPI:
    """``limiter`` counts requests in PostgreSQL; without one, no rate limits apply."""

    def open_all() -> None:
        if limiter is not None:
            limiter.pool.open()
        limits.start()

    def close_all() -> None:
        limits.stop()
        if limiter is not None:
            limiter.pool.close()

    resources = SharedResources(open_all, close_all)
    app = FastAPI(title="eventshop command API", version="1", lifespan=resources.lifespan)
    app.state.shop = shop
    app.state.tokens = tokens
    install_problem_handlers(
        app,
        unavailable=(OperationalError, PersistenceError, psycopg.OperationalError, PoolTimeout),
        database_down=(OperationalError, InterfaceError),
    )
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=MAX_BODY_BYTES)
    registry = app_registry(REGISTRY)  # the process's metrics and the breaker's, too
    # Served on the worker's probe port (eventshop serve), never on the public port.
    app.state.metrics = registry
    if isinstance(shop.repository.cache, MeasuredCache):
        registry.register(CacheMetrics(shop.repository.cache))
    app.add_middleware(RejectNulInQuery)
    limits = install_edge(
        app, api="command", tokens=tokens, edge=edge or EdgeSettings(), limiter=limiter
    )
    for module in (customers, catalog, orders):
        include_limited(app, module.router)
    gateway = shop.gateway
    breaker = (
        (lambda: {"payment_gateway_breaker": gateway.state})
        if isinstance(gateway, BreakingGateway)
        else None
    )
    app.include_router(
        health_router(
            shop.recorder.max_notification_id, "event store", (PersistenceError,), breaker
        )
    )
    # Outermost: every answer counts, also the edge's own refusals (NUL, 413, 429).
    app.add_middleware(Correlation)  # a request id for every answer and log line
    app.add_middleware(RedMetrics, api="command", registry=registry)
    return app
