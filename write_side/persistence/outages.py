"""How the write side rides out a database outage (docs/operations.md, "Failure modes").

Requests fail fast with a 503 while the database is known down (:class:`DatabaseBreaker`).
Background loops (order expiry, payment sweeper) log one warning line per failed round and
pause with a doubling delay, capped (:class:`Backoff`), instead of a traceback twice a
second; anything else is logged with its traceback, and the loop goes on.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError
from eventsourcing.postgres import PostgresDatastore

OUTAGES = (psycopg.OperationalError, psycopg.InterfaceError, OperationalError, InterfaceError)


@dataclass
class Backoff:
    """The pause after a failed round: ``first`` after a success, doubling to ``cap``."""

    first: float
    cap: float = 5.0
    current: float = 0.0

    def succeeded(self) -> float:
        self.current = self.first
        return self.first

    def failed(self, name: str, error: Exception, log: logging.Logger) -> float:
        self.current = min(max(self.current, self.first) * 2, self.cap)
        if isinstance(error, OUTAGES):
            log.warning(
                "%s: database unavailable (%s: %s); retrying in %.1fs",
                name,
                type(error).__name__,
                str(error).splitlines()[0] if str(error) else "",
                self.current,
            )
        else:
            log.exception("%s: round failed; retrying in %.1fs", name, self.current)
        return self.current


class DatabaseBreaker:
    """Fail fast while the database is known to be down.

    The event store's pool waits up to its timeout for a connection. While the server is
    down every request would pay that wait, and they queue one behind another on the
    library's per-aggregate lock (``Repository.get``), each waiting its turn and then the
    timeout again: seen with py-spy, a command took longer than a client's 10 s timeout.
    After a failure to get a connection, every caller fails at once for ``cool_down``
    seconds (a 503 DATABASE_UNAVAILABLE); then calls go through again, and the first
    success closes the breaker. Errors of a statement (a lock timeout, a full disk) do
    not trip it: the server answered.
    """

    def __init__(self, cool_down: float = 1.0) -> None:
        self.cool_down = cool_down
        self.open_until = 0.0
        self.trips = 0

    def guard(self, datastore: PostgresDatastore) -> None:
        """Route ``datastore``'s connections through the breaker (every recorder of the
        application shares the one datastore)."""
        get_connection = datastore.get_connection

        @contextmanager
        def guarded() -> Iterator[Any]:
            if time.monotonic() < self.open_until:
                raise OperationalError("the database is down (failing fast; retry shortly)")
            entered = get_connection()
            try:
                conn = entered.__enter__()
            except OUTAGES:
                self.trips += 1
                self.open_until = time.monotonic() + self.cool_down
                raise
            self.open_until = 0.0
            with contextlib.ExitStack() as stack:
                stack.push(entered)
                yield conn

        datastore.get_connection = guarded  # type: ignore[method-assign]
