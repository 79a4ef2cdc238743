"""An app's resources (pools, watcher threads) opened once, however many lifespans run.

A server runs one lifespan per app. Tests and tools may run several at once on one app
(two test clients, a schema loader): the resources open with the first and close with
the last, since a closed connection pool cannot be opened again. Resources that belong to
an event loop (asyncio connection pools) open and close with each lifespan, on its loop.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any


class SharedResources:
    def __init__(
        self,
        open_all: Callable[[], None],
        close_all: Callable[[], None],
        *,
        open_loop: Callable[[], Awaitable[None]] | None = None,
        close_loop: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._open_all = open_all
        self._close_all = close_all
        self._open_loop = open_loop
        self._close_loop = close_loop
        self._users = 0
        self._lock = threading.Lock()

    @asynccontextmanager
    async def lifespan(self, _: Any) -> AsyncIterator[None]:
        with self._lock:
            if self._users == 0:
                self._open_all()
            self._users += 1
        try:
            if self._open_loop is not None:
                await self._open_loop()
            try:
                yield
            finally:
                if self._close_loop is not None:
                    await self._close_loop()
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    self._close_all()
