"""Count most hits in the process, settle them with PostgreSQL in the background.

A round trip per request to the shared counters costs more than the query it guards
(bench/limits.py). So each process keeps, per key, the last count PostgreSQL gave it
and the hits it has let through since; every ``flush_seconds`` a background thread adds
those to the shared row and learns the new total. A request is let through on that
estimate; it goes to PostgreSQL itself only for a key it has not seen this window, or
when the estimate crosses the limit — so a refusal always rests on an exact count. A key
known to be over its limit is refused locally until its window ends (a flood costs no
round trips). The price: hits other processes let through in their last
``flush_seconds`` are not yet seen here, so across N processes a client can overshoot
by about what it sends in (N - 1) times ``flush_seconds``.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from http_edge.rate_limits import Count, Policy, PostgresRateLimiter

log = logging.getLogger(__name__)

#: With no hit pending, the flusher still wakes this often to forget ended windows.
IDLE_FLUSH_SECONDS = 5.0


@dataclass
class _Entry:
    window_seconds: int
    hits: int  # as PostgreSQL last counted them
    resets_at: float  # time.monotonic()
    pending: int = 0  # let through here, not yet added to PostgreSQL
    inflight: int = 0  # being added to PostgreSQL right now


class CachedRateLimiter:
    def __init__(self, store: PostgresRateLimiter, flush_seconds: float = 0.05) -> None:
        self.store = store
        self.flush_seconds = flush_seconds
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        #: Set when a hit is let through locally: the flusher sleeps while none is pending.
        self._pending = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="rate-limit-flush", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._pending.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.flush()

    def hit(self, key: str, policy: Policy) -> Count:
        """Count one hit; may wait for PostgreSQL (call it from a worker thread)."""
        return self.local_hit(key, policy) or self.settled_hit(key, policy)

    def local_hit(self, key: str, policy: Policy) -> Count | None:
        """Count one hit in memory if that is enough to decide; never blocks on I/O."""
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.resets_at <= now:
                return None
            estimate = entry.hits + entry.inflight + entry.pending + 1
            if entry.hits > policy.limit or estimate <= policy.limit:
                entry.pending += 1
                if not self._pending.is_set():
                    self._pending.set()
                return Count(estimate, entry.resets_at - now)
            return None

    def settled_hit(self, key: str, policy: Policy) -> Count:
        """Count one hit (and any pending) in PostgreSQL now: the exact count."""
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            amount = 1 + (entry.pending if entry is not None else 0)
            if entry is not None and entry.resets_at > now:
                entry.pending = 0
                entry.inflight += amount
            else:
                self._entries.pop(key, None)
        return self._settle(key, policy.window_seconds, amount)

    def _settle(self, key: str, window_seconds: int, amount: int) -> Count:
        """Add ``amount`` to the shared count (already counted as in flight, if the key
        is known); answer the count with what is still pending or in flight here."""
        try:
            count = self.store.hit(key, window_seconds, amount)
        finally:
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None:
                    entry.inflight = max(entry.inflight - amount, 0)
        with self._lock:
            entry = self._entries.get(key)
            resets_at = time.monotonic() + count.reset_seconds
            if entry is None:
                entry = self._entries[key] = _Entry(window_seconds, count.hits, resets_at)
            elif count.hits >= entry.hits or resets_at > entry.resets_at + 1:
                entry.hits, entry.resets_at = count.hits, resets_at  # newer, or a new window
            return Count(count.hits + entry.pending + entry.inflight, count.reset_seconds)

    def flush(self) -> None:
        now = time.monotonic()
        with self._lock:
            due = [(k, e.window_seconds, e.pending) for k, e in self._entries.items() if e.pending]
            for key, entry in list(self._entries.items()):
                entry.inflight += entry.pending
                entry.pending = 0
                if entry.resets_at <= now:
                    del self._entries[key]
        for key, window_seconds, amount in due:
            self._settle(key, window_seconds, amount)

    def _run(self) -> None:
        """Every ``flush_seconds`` while hits come; asleep while none is pending (an idle
        API woke twenty times a second for nothing), but for forgetting ended windows."""
        while not self._stop.is_set():
            self._pending.wait(IDLE_FLUSH_SECONDS)
            if self._stop.wait(self.flush_seconds):
                break
            self._pending.clear()  # before the flush takes them: a later hit sets it again
            try:
                self.flush()
            except Exception as error:  # a database hiccup must not end the flusher
                log.warning("rate-limit flush failed: %s: %s", type(error).__name__, error)
                self._stop.wait(0.5)
