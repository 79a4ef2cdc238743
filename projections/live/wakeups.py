"""Wake idle loops when there is news on a channel (docs/operations.md, "Idle").

An idle consumer that polls the broker on a short timer pays for every empty fetch, all
day; Tansu holds each fetch its whole ``fetch_max_wait_ms``, so a shop with no traffic
spent about half a core looking for work. Each loop listens to the one channel that
announces its work: the recorder NOTIFYs ``EVENTS_CHANNEL`` on each insert (the order
process manager), the relay ``PUBLISHED_CHANNEL`` with each checkpoint (records are on the
broker, also when it republishes, which inserts nothing: the consumers), a projector
``POSITIONS_CHANNEL`` with each batch it commits (the mail intake's outbox rows: the mail
sender). Every notification wakes every process listening to its channel, so a channel a
loop does not need costs it a wake-up per command. The projectors' NOTIFY names the read
schema it moved, and a listener for one schema's news lets another's pass (several shops,
or a test session's many schemas, may share one database). The relay's NOTIFY names the
partitions it published to, so a consumer caught up with the broker fetches again for news
of its own partitions only (``news_for``), busy or idle. One listening connection per
process and channel set turns the news into a generation counter, and a loop idle for a
while waits for the next generation instead of polling. The wait is bounded (a slow
safety poll): a lost notification, or a database in another server than the read side's,
costs at most one safety interval, never a stall; a rebalance cuts a consumer's wait short.
"""

from __future__ import annotations

import logging
import select
import threading
import time
from collections.abc import Callable, Iterable
from typing import ClassVar

import psycopg
from kafka import KafkaConsumer
from kafka.coordinator.base import MemberState
from psycopg import sql

from contracts.bookkeeping import POSITIONS_CHANNEL, PUBLISHED_CHANNEL

log = logging.getLogger(__name__)


class Wakeups:
    """A generation that moves on each NOTIFY of new events (and on each reconnect: what
    happened while the listener was away is news too)."""

    _shared: ClassVar[dict[str, Wakeups]] = {}
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()
    #: How long the listener waits for a notification before it checks its connection.
    keepalive_seconds = 10.0

    def __init__(
        self, database_url: str, channels: tuple[str, ...], about: str | None = None
    ) -> None:
        self.database_url = database_url
        self.channels = channels
        #: Only notifications whose payload is empty or this (a schema) are news.
        self.about = about
        self.generation = 0
        #: The generation of the last news for every partition, and of each partition's
        #: (``topic:partition``, as the relay's ``PUBLISHED_CHANNEL`` payload names them).
        self.everything = 0
        self.touched: dict[str, int] = {}
        self._changed = threading.Condition()
        self._callbacks: list[Callable[[], None]] = []
        self._thread = threading.Thread(target=self._listen, name="wakeups", daemon=True)
        self._thread.start()

    @classmethod
    def for_database(
        cls, database_url: str, channels: tuple[str, ...], about: str | None = None
    ) -> Wakeups:
        """The process's one listener for these channels of this database (and, with
        ``about``, for the news of that schema only)."""
        key = f"{database_url} {channels} {about}"
        with cls._shared_lock:
            if key not in cls._shared:
                cls._shared[key] = cls(database_url, channels, about)
            return cls._shared[key]

    @classmethod
    def of_batches(cls, database_url: str, schema: str) -> Wakeups:
        """News of the batches projectors commit to read schema ``schema``."""
        return cls.for_database(database_url, (POSITIONS_CHANNEL,), about=schema)

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` with each piece of news, on the listener's thread (so it must
        be quick: set an event); returns the call that unsubscribes it."""
        with self._changed:
            self._callbacks.append(callback)

        def unsubscribe() -> None:
            with self._changed:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return unsubscribe

    #: How often a waiter checks its own condition (``wait_while``): a Python call, no I/O.
    check_seconds = 0.25

    def wait(self, seen: int, timeout: float) -> int:
        """Wait until the generation is not ``seen`` (at most ``timeout`` s); the current one."""
        with self._changed:
            self._changed.wait_for(lambda: self.generation != seen, timeout)
            return self.generation

    def wait_while(self, seen: int, timeout: float, holds: Callable[[], bool]) -> int:
        """``wait``, cut short as soon as ``holds()`` turns false (checked every
        ``check_seconds``): a consumer's group starting a rebalance while it sleeps."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0 and holds():
            news = self.wait(seen, min(left, self.check_seconds))
            if news != seen:
                return news
        return self.generation

    def news_for(self, partitions: Iterable[str], seen: int) -> bool:
        """Whether news came after generation ``seen`` for any of ``partitions``."""
        touched = self.touched
        return self.everything > seen or any(touched.get(p, 0) > seen for p in partitions)

    def _bump(self, partitions: set[str] | None = None) -> None:
        with self._changed:
            self.generation += 1
            if partitions is None:
                self.everything = self.generation
            else:
                for partition in partitions:
                    self.touched[partition] = self.generation
            self._changed.notify_all()
            callbacks = list(self._callbacks)
        for callback in callbacks:
            callback()

    def _is_news(self, payload: str) -> bool:
        return self.about is None or payload in ("", self.about)

    def _listen(self) -> None:
        backoff = 0.5
        while True:
            try:
                with psycopg.connect(self.database_url, autocommit=True) as conn:
                    for channel in self.channels:
                        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                    self._bump()
                    backoff = 0.5
                    while True:
                        # What came (also during the keepalive: psycopg keeps it), then
                        # sleep in select() until the socket speaks: psycopg's own blocking
                        # wait wakes ten times a second, in every process that listens.
                        news = [n for n in conn.notifies(timeout=0) if self._is_news(n.payload)]
                        if news:
                            self._bump(_partitions(news))
                        if not select.select([conn.fileno()], [], [], self.keepalive_seconds)[0]:
                            conn.execute("SELECT 1")  # a dead connection raises here
            except Exception as error:  # the listener must outlive any failure
                log.debug(
                    "wakeups: %s: %s; listening again in %.1fs",
                    type(error).__name__,
                    error,
                    backoff,
                )
                self._bump()  # waiters fall back to polling until we are back
                time.sleep(backoff)
                backoff = min(backoff * 2, 5.0)


def _partitions(news: list[psycopg.Notify]) -> set[str] | None:
    """The partitions the relay's notifications name; None when one is for every one."""
    named: set[str] = set()
    for notify in news:
        if notify.channel != PUBLISHED_CHANNEL or not notify.payload:
            return None
        named.update(notify.payload.split())
    return named


def settled(consumer: KafkaConsumer) -> bool:
    """True when the consumer owns partitions in a stable group with no rejoin pending and
    its coordinator connected: only then may it skip polls. Finding the coordinator again
    and joining advance only inside ``poll``, so a member sleeping through a rebalance or
    a broker restart would leave partitions unowned until it woke."""
    coordinator = consumer._coordinator  # kafka-python exposes no stable flag
    return (
        bool(consumer.assignment())
        and coordinator.state is MemberState.STABLE
        and not coordinator.need_rejoin()
        and not coordinator.coordinator_unknown()
    )


def drained(consumer: KafkaConsumer) -> bool:
    """True when the consumer has read each partition it owns up to the high watermark its
    last fetch of it reported: nothing to fetch until the relay's next news. One sought
    back (a retry, a reread) or never fetched yet is not."""
    # kafka-python's public position() refreshes committed offsets first: a round trip.
    for state in list(consumer._subscription.assignment.values()):
        mark = state.highwater
        if mark is None or not state.has_valid_position or state.position.offset < mark:
            return False
    return True
