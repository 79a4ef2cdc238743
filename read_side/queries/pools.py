"""The query routes' connections: an asyncio pool per event loop.

A route awaits its SQL on the event loop (psycopg's async connections) instead of handing
it to a worker thread, so a query never waits for, or holds, one of anyio's worker threads
(what it measured: docs/operations.md, "Throughput"). A server process runs one loop, so one
pool; tests may serve one app from several loops at once (each test client has its own),
and an asyncio pool belongs to the loop that opened it, so each loop gets its own.

The thread-side pool (the position watcher, rate limits, metrics, health, the ops page)
stays a plain :class:`psycopg_pool.ConnectionPool`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from http_edge.liveness import check_idle_async


class ReadPools:
    def __init__(self, conninfo: str, *, max_size: int, timeout: float = 3.0) -> None:
        self.conninfo = conninfo
        self.max_size = max_size
        self.timeout = timeout
        self._pools: dict[asyncio.AbstractEventLoop, AsyncConnectionPool[Any]] = {}

    async def open(self) -> None:
        """Open this loop's pool (an app's lifespan, on the loop that will serve it)."""
        loop = asyncio.get_running_loop()
        if loop in self._pools:
            return
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            self.conninfo,
            min_size=1,
            max_size=self.max_size,
            open=False,
            timeout=self.timeout,
            kwargs={"autocommit": True},  # read-only statements; each sees the latest commits
            # After a database restart every pooled connection is dead: check each before
            # handing it out, so a restart costs a reconnect instead of a 503 per connection.
            check=check_idle_async,
        )
        self._pools[loop] = pool
        await pool.open()

    async def close(self) -> None:
        pool = self._pools.pop(asyncio.get_running_loop(), None)
        if pool is not None:
            await pool.close()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection[Any]]:
        pool = self._pools.get(asyncio.get_running_loop())
        if pool is None:
            raise RuntimeError("no read pool on this event loop: the app's lifespan did not run")
        async with pool.connection() as conn:
            yield conn
