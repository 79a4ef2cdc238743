"""Sleeping while idle: a projector with nothing to do waits for PostgreSQL's word that
events were stored, instead of asking the broker for records twenty times a second.

The event store's recorder NOTIFYs ``shop_events`` in every transaction that appends events
(the relay wakes on it too). One LISTEN connection per process and database wakes every
projector of the process; a projector that saw no record and no such word for
``IDLE_AFTER_SECONDS`` waits for the next one, polling the broker only every
``SAFETY_POLL_SECONDS`` meanwhile — for what reaches a topic without a new event (a relay
republishing a lost log) and to stay in its consumer group. Before, an idle `eventshop run`
spent most of its CPU on empty fetches (Tansu holds each for ``fetch_max_wait_ms``).
"""

from __future__ import annotations

import logging
import threading
from typing import ClassVar

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

#: The channel the event store's recorder NOTIFYs (its table's name: the library's rule).
EVENTS_CHANNEL = "shop_events"
IDLE_AFTER_SECONDS = 1.0
SAFETY_POLL_SECONDS = 1.0


class Wakeups:
    _shared: ClassVar[dict[str, Wakeups]] = {}
    _guard: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def for_database(cls, database_url: str) -> Wakeups:
        with cls._guard:
            found = cls._shared.get(database_url)
            if found is None:
                found = cls._shared[database_url] = cls(database_url)
            return found

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._generation = 0
        self._changed = threading.Condition()
        thread = threading.Thread(target=self._listen, name="projector-wakeups", daemon=True)
        thread.start()

    def seen(self) -> int:
        return self._generation

    def wait(self, seen: int, timeout: float) -> int:
        """Until a NOTIFY after ``seen`` (returns the new generation) or ``timeout``."""
        with self._changed:
            self._changed.wait_for(lambda: self._generation != seen, timeout)
            return self._generation

    def _wake(self) -> None:
        with self._changed:
            self._generation += 1
            self._changed.notify_all()

    def _listen(self) -> None:
        backoff = 0.2
        while True:
            try:
                with psycopg.connect(self.database_url, autocommit=True) as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(EVENTS_CHANNEL)))
                    backoff = 0.2
                    self._wake()  # whatever was stored while not listening
                    for _ in conn.notifies():
                        self._wake()
            except psycopg.Error as error:
                log.debug("projector wakeups: %s; listening again in %.1fs", error, backoff)
            self._wake()  # not listening: the projectors poll until it is back
            threading.Event().wait(backoff)
            backoff = min(backoff * 2, 5.0)
