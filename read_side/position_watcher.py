"""The process's one reader of positions: snapshots for token waits and ETags.

It reads the positions (and the event store's head) with one statement when a request
arrives, and while anyone waits, whenever a projector says its batch committed
(``POSITIONS_CHANNEL``; given no such news it polls every few milliseconds); then it
wakes the waiting requests, coroutines that look at its latest snapshot. Their number is
capped, so a flood of tokens cannot crowd out honest queries (docs/operations.md,
read-your-writes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from contracts.consistency import PartitionMark
from contracts.signals import News
from read_side.consistency import (
    BeyondHeadError,
    ConsistencyTimeoutError,
    Snapshot,
    TooManyWaitersError,
    read_snapshot,
)

log = logging.getLogger(__name__)


class PositionWatcher:
    """Reads positions while requests wait or GETs are served; wakes waiters on each new
    snapshot.

    Without ``news`` it polls every ``interval`` while anyone waits, and every
    ``serving_interval`` while GETs arrive. With ``news`` (the projectors' NOTIFY after
    each batch) a waiter costs a read when it arrives and one per batch committed while
    it waits (at most one each ``interval``), and serving GETs one every
    ``safety_interval``, which also bounds what a lost notification costs.
    """

    def __init__(
        self,
        pool: ConnectionPool[Any],
        schema: str,
        *,
        max_waiters: int = 256,
        interval: float = 0.005,
        serving_interval: float = 0.02,
        news: News | None = None,
        safety_interval: float = 0.25,
        read: Callable[[psycopg.Connection[Any], str, int], Snapshot] = read_snapshot,
    ) -> None:
        self.pool = pool
        self.schema = schema
        self.max_waiters = max_waiters
        self.interval = interval
        #: While GETs are served, snapshots are taken at least this often (for ETags; a
        #: stale one only makes a 304 rarer: it names rows the answer has reached). Given
        #: news, also while requests wait: news is what makes the next read.
        self.serving_interval = serving_interval if news is None else safety_interval
        self.news = news
        self._unsubscribe: Callable[[], None] | None = None
        self._serving_until = 0.0
        self._read = read
        self._lock = threading.Lock()
        self._wanted = threading.Event()
        #: A waiter arrived: the next snapshot is taken now, not after the serving pause.
        self._arrived = threading.Event()
        self._stop = threading.Event()
        self._waiters: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Event]] = {}
        self._next_seq = 1
        self.snapshot = Snapshot(0)
        self._thread: threading.Thread | None = None

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def start(self) -> None:
        self._stop.clear()
        if self.news is not None:
            self._unsubscribe = self.news.subscribe(self._told)
        self._thread = threading.Thread(target=self._run, name="position-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._stop.set()
        self._arrived.set()
        self._wanted.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def current(self) -> Snapshot:
        """The latest snapshot, and polling kept on for a while: requests are being served.

        Its age is ``time.monotonic() - taken_at``; one taken before a request reads rows
        names a state the rows have reached or passed (positions commit with the rows)."""
        self._serving_until = time.monotonic() + 1.0
        if not self._wanted.is_set():
            self._wanted.set()
        return self.snapshot

    async def fresh(self, max_age: float, timeout: float = 0.5) -> Snapshot:
        """A snapshot at most ``max_age`` seconds old: the latest, or the next one taken
        (within ``timeout``; after it, or with the waiters' cap reached, the latest)."""
        snapshot = self.current()
        if time.monotonic() - snapshot.taken_at <= max_age:
            return snapshot
        wake = asyncio.Event()
        with self._lock:
            if len(self._waiters) >= self.max_waiters:
                return snapshot
            first_fresh = self._next_seq
            self._waiters[id(wake)] = (asyncio.get_running_loop(), wake)
        self._arrived.set()
        self._wanted.set()
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    while True:
                        wake.clear()
                        if self.snapshot.seq >= first_fresh:
                            break
                        await wake.wait()
        finally:
            with self._lock:
                self._waiters.pop(id(wake), None)
        return self.snapshot

    async def wait(self, projection: str, marks: list[PartitionMark], timeout: float) -> None:
        """Return once a snapshot reflects ``marks``; raise when that cannot be or is late."""
        if not marks or not self.snapshot.pending(projection, marks):
            return  # positions only grow: any snapshot that reflects the marks still does
        wake = asyncio.Event()
        with self._lock:
            if len(self._waiters) >= self.max_waiters:
                raise TooManyWaitersError
            first_fresh = self._next_seq  # a snapshot begun after this request arrived
            self._waiters[id(wake)] = (asyncio.get_running_loop(), wake)
        self._arrived.set()
        self._wanted.set()
        deadline = time.monotonic() + timeout
        try:
            while True:
                wake.clear()  # before looking: a snapshot published after this wakes us
                snapshot = self.snapshot
                if snapshot.seq >= first_fresh:
                    if any(m.notification_id > snapshot.head for m in marks):
                        raise BeyondHeadError
                    if not snapshot.pending(projection, marks):
                        return
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ConsistencyTimeoutError
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), remaining)
        finally:
            with self._lock:
                self._waiters.pop(id(wake), None)

    def _told(self) -> None:
        """Positions moved (on the listener's thread): read them now if anyone waits."""
        if self._waiters:
            self._arrived.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wanted.wait(timeout=1)
            if self._stop.is_set():
                return
            if not self._waiters and time.monotonic() > self._serving_until:
                self._wanted.clear()
                continue
            self._arrived.clear()
            self._poll_once()
            if self.news is None and self._waiters:
                self._stop.wait(self.interval)
                continue
            # The next read on an arrival, news (given news: the safety interval), or after
            # the serving pause; a burst of news is read once, ``interval`` apart.
            self._arrived.wait(self.serving_interval)
            if self.news is not None:
                self._stop.wait(max(0.0, self.snapshot.taken_at + self.interval - time.monotonic()))

    def _poll_once(self) -> None:
        with self._lock:
            seq = self._next_seq
            self._next_seq += 1
        began = time.monotonic()
        try:
            with self.pool.connection(timeout=1) as conn:
                self.snapshot = replace(self._read(conn, self.schema, seq), taken_at=began)
        except (psycopg.Error, PoolTimeout) as error:
            log.warning("position watcher: %s: %s", type(error).__name__, error)
            self._stop.wait(0.2)
            return
        with self._lock:
            waiters = list(self._waiters.values())
        for loop, wake in waiters:
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:  # that request's event loop has closed
                continue
