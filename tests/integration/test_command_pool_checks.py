"""The command API's pools make sure of a connection without a round trip per checkout
(http_edge/liveness.py): a command pays no empty query for it, and a connection the
server ended (a restart, a failover, an administrator) is still replaced before use."""

from __future__ import annotations

import time
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from tests.support.stack import Servers, running_stack


def test_commands_send_no_empty_query_and_survive_ended_connections(
    servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[int] = []
    check = ConnectionPool.check_connection

    def counted(conn: Any) -> None:
        asked.append(conn.info.backend_pid)
        check(conn)

    # Before the pools are built: a pool keeps the check it was given.
    monkeypatch.setattr(ConnectionPool, "check_connection", staticmethod(counted))
    with running_stack(servers) as stack:
        product = stack.admin.post(
            "/products", json={"sku": f"PC-{uuid4().hex[:8]}", "title": "Jug", "price": 5}
        ).json()["id"]
        asked.clear()
        for _ in range(5):
            moved = stack.admin.post(f"/products/{product}/stock", json={"delta": 1})
            assert moved.status_code == 200, moved.text
        assert asked == [], "an empty query per pool checkout"

        shop = stack.admin.app.state.shop  # type: ignore[attr-defined]
        pool = shop.recorder.datastore.pool
        with pool.connection() as conn:
            pid = conn.info.backend_pid
        with psycopg.connect(servers.database_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        time.sleep(0.2)  # the server closed the socket; the client has read nothing yet
        for _ in range(3):
            moved = stack.admin.post(f"/products/{product}/stock", json={"delta": 1})
            assert moved.status_code == 200, moved.text
        assert pid in asked  # the ended connection was asked, found dead and replaced
