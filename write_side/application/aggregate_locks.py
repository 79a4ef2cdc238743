"""In-process locks on the aggregates one attempt of a command reads (a unit of work).

Optimistic concurrency keeps every write correct: a save whose aggregate moved on meanwhile
fails and the command is retried (write_side/application/base.py). On a hot aggregate (twenty
customers ordering one product at once) that correctness costs a lot: the attempts in one
process read the same version, all but one lose, and each loser reads and saves again. So
each attempt holds a lock on every aggregate it reads, until it has saved: the attempts of
one process take their turns on a hot product instead of racing (Axon's aggregate
repositories lock loaded aggregates the same way). Other processes still race and retry.

A lock is only ever a hint, never what makes a write correct, so waiting is bounded: the
first lock of an attempt waits up to ``first_wait`` seconds, each further one up to
``next_wait`` — two attempts that read two aggregates in opposite orders wait ``next_wait``
at most, then go on without that lock, and the save's version check decides.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import UUID


class AggregateLocks:
    def __init__(self, first_wait: float = 2.0, next_wait: float = 0.05) -> None:
        self.first_wait = first_wait
        self.next_wait = next_wait
        self._guard = threading.Lock()
        #: aggregate id -> (its lock, how many attempts hold or wait for it)
        self._locks: dict[UUID, tuple[threading.Lock, int]] = {}
        self._local = threading.local()
        #: Waits that ran out (the attempt went on without the lock).
        self.timeouts = 0

    @contextmanager
    def unit(self) -> Iterator[None]:
        """One attempt: the locks it takes are released when it ends."""
        outer: list[UUID] | None = getattr(self._local, "held", None)
        if outer is not None:  # a use case run inside another shares the outer unit
            yield
            return
        held: list[UUID] = []
        self._local.held = held
        try:
            yield
        finally:
            self._local.held = None
            for aggregate_id in reversed(held):
                self._leave(aggregate_id, release=True)

    def hold(self, aggregate_id: UUID) -> None:
        """Lock ``aggregate_id`` until the current unit ends (outside a unit: nothing)."""
        held: list[UUID] | None = getattr(self._local, "held", None)
        if held is None or aggregate_id in held:
            return
        with self._guard:
            lock, users = self._locks.get(aggregate_id, (None, 0))
            if lock is None:
                lock = threading.Lock()
            self._locks[aggregate_id] = (lock, users + 1)
        if lock.acquire(timeout=self.next_wait if held else self.first_wait):
            held.append(aggregate_id)
        else:
            self._leave(aggregate_id, timed_out=True)

    def _leave(self, aggregate_id: UUID, *, release: bool = False, timed_out: bool = False) -> None:
        """This attempt no longer holds (``release``) or awaits the lock: one user fewer."""
        with self._guard:
            lock, users = self._locks[aggregate_id]
            if release:
                lock.release()
            self.timeouts += timed_out
            if users == 1:
                del self._locks[aggregate_id]
            else:
                self._locks[aggregate_id] = (lock, users - 1)

    @property
    def in_use(self) -> int:
        """Aggregates with a lock held or awaited (0 when no command runs: nothing leaks)."""
        with self._guard:
            return len(self._locks)
