"""Call the read side's async query functions from sync tests, over one connection."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from psycopg import AsyncConnection

P = ParamSpec("P")
R = TypeVar("R")


class SyncReads:
    def __init__(self, conninfo: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._conn: AsyncConnection[Any] = self._loop.run_until_complete(
            AsyncConnection.connect(conninfo, autocommit=True)
        )

    def __call__(
        self,
        query: Callable[Concatenate[AsyncConnection[Any], P], Awaitable[R]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R:
        return self._loop.run_until_complete(query(self._conn, *args, **kwargs))

    def __enter__(self) -> SyncReads:
        return self

    def __exit__(self, *_: object) -> None:
        self._loop.run_until_complete(self._conn.close())
        self._loop.close()
