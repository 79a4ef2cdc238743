"""Composition of the query API from explicit arguments."""

from __future__ import annotations

from fastapi import FastAPI
from psycopg_pool import ConnectionPool

from http_edge.install import EdgeSettings
from http_edge.tokens import TokenSettings
from read_side.http.validators import CatalogCache
from read_side.query_api import create_query_app
from read_side.read_pools import ReadPools


def build_query_app(
    *,
    read_database_url: str,
    schema: str,
    tokens: TokenSettings,
    topic_prefix: str = "",
    consistency_wait_seconds: float = 2.0,
    max_waiters: int = 256,
    edge: EdgeSettings | None = None,
    pool_size: int = 8,
    catalog_cache: CatalogCache | None = None,
    ops_login_url: str = "http://127.0.0.1:8000",
) -> FastAPI:
    """``pool_size``: connections the routes may hold at once; the threads' pool has a
    quarter of that (at least 2)."""
    pool: ConnectionPool = ConnectionPool(
        read_database_url,
        min_size=1,
        max_size=max(2, pool_size // 4),
        open=False,
        timeout=3,
        kwargs={"autocommit": True},  # read-only statements; each sees the latest commits
        check=ConnectionPool.check_connection,  # a restarted database: reconnect, no 503
    )
    return create_query_app(
        pool=pool,
        reads=ReadPools(read_database_url, max_size=pool_size),
        tokens=tokens,
        schema=schema,
        topic_prefix=topic_prefix,
        consistency_wait_seconds=consistency_wait_seconds,
        max_waiters=max_waiters,
        edge=edge,
        catalog_cache=catalog_cache,
        ops_login_url=ops_login_url,
    )
