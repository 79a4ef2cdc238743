"""The query API's pools hand out no dead connection after the server ended it (a restart,
a failover, an administrator), and pay no round trip per query to make sure of it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from http_edge.liveness import check_idle, check_idle_async
from tests.support.stack import Servers


def _terminate(url: str, pid: int) -> None:
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    time.sleep(0.2)  # the server closes the socket; the client has not read anything yet


@pytest.mark.parametrize("check", [check_idle, None], ids=["checked", "unchecked"])
def test_a_connection_the_server_ended_is_replaced_before_use(servers: Servers, check: Any) -> None:
    with ConnectionPool(
        servers.database_url, min_size=1, max_size=1, check=check, kwargs={"autocommit": True}
    ) as pool:
        with pool.connection() as conn:
            pid = conn.info.backend_pid
        _terminate(servers.database_url, pid)
        if check is None:  # what the check is for: the dead connection is handed out
            with pytest.raises(psycopg.OperationalError), pool.connection() as conn:
                conn.execute("SELECT 1")
            return
        with pool.connection() as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
            assert conn.info.backend_pid != pid


def test_the_async_pools_replace_it_too(servers: Servers) -> None:
    async def run() -> None:
        async with AsyncConnectionPool(
            servers.database_url,
            min_size=1,
            max_size=1,
            check=check_idle_async,
            kwargs={"autocommit": True},
        ) as pool:
            async with pool.connection() as conn:
                pid = conn.info.backend_pid
            await asyncio.to_thread(_terminate, servers.database_url, pid)
            async with pool.connection() as conn:
                assert await (await conn.execute("SELECT 1")).fetchone() == (1,)

    asyncio.run(run())
