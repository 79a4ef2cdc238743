"""Read-your-writes: wait until a read model has applied what a consistency token names.

For each mark in the token whose topic feeds the read model, the read model's tracked
position on that (topic, partition) must reach the mark's notification id, and no event
at or below the mark may be parked there (behind a version gap or a dead letter).
Marks on topics the read model does not consume are satisfied by definition.

Waiting costs no database connection and no worker thread: one :class:`PositionWatcher`
per process polls the positions (and the event store's head) with one statement while
anyone waits, and waiting requests are coroutines that look at its latest snapshot.
Their number is capped, so a flood of tokens cannot crowd out honest queries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool, PoolTimeout

from contracts.bookkeeping import HEAD_FUNCTION, PARKED_TABLE, POSITIONS_TABLE
from contracts.consistency import PartitionMark
from contracts.readmodels import SOURCES
from contracts.topics import topic_name

log = logging.getLogger(__name__)

Key = tuple[str, str, int]  # (projection, topic, partition)


class ConsistencyTimeoutError(TimeoutError):
    """The read model did not catch up within the bounded wait."""


class TooManyWaitersError(RuntimeError):
    """This process already holds as many waiting requests as it allows."""


class BeyondHeadError(ValueError):
    """The token names an event the event store does not have (a store reset, say)."""


@dataclass(frozen=True)
class Snapshot:
    """Positions and parked events as of one statement, and the event store's head."""

    seq: int
    positions: dict[Key, int] = field(default_factory=dict)
    lowest_parked: dict[Key, int] = field(default_factory=dict)
    head: int = 0
    #: Per partition: aggregate tag → its lowest parked notification id there.
    parked_by_tag: dict[Key, dict[str, int]] = field(default_factory=dict)
    #: Per partition: when its position row was last saved. Every transaction that
    #: changes a read model's rows saves the position of a partition it read (batches,
    #: dead-letter releases, a rebuild's swap), so this changes whenever rows do.
    saved_at: dict[Key, str] = field(default_factory=dict)
    #: ``time.monotonic()`` when the statement that read this snapshot began.
    taken_at: float = 0.0

    #: Stamps already computed from this snapshot (every GET asks for one).
    _stamps: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)

    def stamp(self, projection: str) -> str:
        """What ``projection``'s rows reflect, as one string: it changes when they change."""
        if projection not in self._stamps:
            self._stamps[projection] = "|".join(
                f"{key[1]}:{key[2]}:{self.positions[key]}:{self.saved_at.get(key, '')}"
                for key in sorted(self.positions)
                if key[0] == projection
            )
        return self._stamps[projection]

    def pending(self, projection: str, marks: list[PartitionMark]) -> list[PartitionMark]:
        return [m for m in marks if not self._reflects(projection, m)]

    def _reflects(self, projection: str, mark: PartitionMark) -> bool:
        key = (projection, mark.topic, mark.partition)
        if self.positions.get(key, 0) < mark.notification_id:
            return False
        held = mark.notification_id + 1
        if not mark.aggregates:  # no tags: any parked event at or below the mark holds it
            return self.lowest_parked.get(key, held) > mark.notification_id
        tags = self.parked_by_tag.get(key, {})
        return all(tags.get(tag, held) > mark.notification_id for tag in mark.aggregates)


def relevant_marks(
    projection: str, marks: list[PartitionMark], topic_prefix: str
) -> list[PartitionMark]:
    topics = {topic_name(c, topic_prefix) for c in SOURCES[projection]}
    return [m for m in marks if m.topic in topics]


_SNAPSHOT = """
SELECT 'p', projection, topic, partition, notification_id, updated_at::text FROM {positions}
UNION ALL
SELECT 'k', projection, topic, partition, min(notification_id),
       left(replace(aggregate_id::text, '-', ''), 8)
FROM {parked} GROUP BY projection, topic, partition, aggregate_id
UNION ALL
SELECT 'h', '', '', 0, {head}(), ''
"""


def read_snapshot(conn: psycopg.Connection[Any], schema: str, seq: int) -> Snapshot:
    """One statement, so positions and parked events are from one instant."""
    statement = sql.SQL(_SNAPSHOT).format(
        positions=sql.Identifier(schema, POSITIONS_TABLE),
        parked=sql.Identifier(schema, PARKED_TABLE),
        head=sql.Identifier(schema, HEAD_FUNCTION),
    )
    snapshot, head = Snapshot(seq), 0
    for kind, projection, topic, partition, notification_id, tag in conn.execute(statement):
        key, nid = (projection, topic, partition), int(notification_id)
        if kind == "p":
            snapshot.positions[key] = nid
            snapshot.saved_at[key] = tag
        elif kind == "k":
            snapshot.lowest_parked[key] = min(snapshot.lowest_parked.get(key, nid), nid)
            tags = snapshot.parked_by_tag.setdefault(key, {})
            tags[tag] = min(tags.get(tag, nid), nid)
        else:
            head = nid
    return replace(snapshot, head=head)


class PositionWatcher:
    """Polls positions while requests wait; wakes them on each new snapshot."""

    def __init__(
        self,
        pool: ConnectionPool[Any],
        schema: str,
        *,
        max_waiters: int = 256,
        interval: float = 0.005,
        serving_interval: float = 0.02,
        read: Callable[[psycopg.Connection[Any], str, int], Snapshot] = read_snapshot,
    ) -> None:
        self.pool = pool
        self.schema = schema
        self.max_waiters = max_waiters
        self.interval = interval
        #: While GETs are served, snapshots are taken at least this often (for ETags).
        self.serving_interval = serving_interval
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
        self._thread = threading.Thread(target=self._run, name="position-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
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
            if self._waiters:
                self._stop.wait(self.interval)
            else:
                self._arrived.wait(self.serving_interval)

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
