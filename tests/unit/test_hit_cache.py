"""The in-process hit cache: decisions near the limit rest on exact counts."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, cast

from http_edge.hit_cache import CachedRateLimiter
from http_edge.rate_limits import Count, Policy, PostgresRateLimiter


@dataclass
class FakeCounters:
    """The shared table, as several processes would see it."""

    hits: dict[str, int] = field(default_factory=dict)
    calls: int = 0

    def hit(self, key: str, window_seconds: int, amount: int = 1) -> Count:
        self.calls += 1
        self.hits[key] = self.hits.get(key, 0) + amount
        return Count(self.hits[key], float(window_seconds))


def cache(counters: FakeCounters) -> CachedRateLimiter:
    return CachedRateLimiter(cast(PostgresRateLimiter, cast(Any, counters)))


POLICY = Policy("api", 10, 60)


def test_a_single_process_lets_exactly_the_limit_through_with_few_round_trips() -> None:
    counters = FakeCounters()
    limiter = cache(counters)
    allowed = [limiter.hit("k", POLICY).hits <= POLICY.limit for _ in range(25)]
    assert allowed == [True] * 10 + [False] * 15
    assert counters.calls == 2  # the first hit, and the one that crossed the limit
    limiter.flush()
    assert counters.hits["k"] == 25  # every hit reaches the shared count


def test_two_processes_never_refuse_below_the_limit_and_refuse_once_over_it() -> None:
    counters = FakeCounters()
    first, second = cache(counters), cache(counters)
    outcomes = []
    for n in range(30):
        limiter = first if n % 2 == 0 else second
        outcomes.append(limiter.hit("k", POLICY).hits <= POLICY.limit)
        if n % 4 == 3:
            first.flush()
            second.flush()
    assert all(outcomes[:10])  # nobody is refused while the shared count is under the limit
    assert not any(outcomes[-10:])  # and, once it is over, nobody gets through
    assert sum(outcomes) <= POLICY.limit + 4  # overshoot bounded by what went unflushed


def test_a_refused_key_is_refused_locally_without_round_trips() -> None:
    counters = FakeCounters()
    limiter = cache(counters)
    for _ in range(12):
        limiter.hit("k", POLICY)
    calls = counters.calls
    for _ in range(100):
        assert limiter.local_hit("k", POLICY) is not None
    assert counters.calls == calls


class SlowCounters(FakeCounters):
    """The shared table behind a slow network: a hit waits until ``gate`` opens."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.gate.set()

    def hit(self, key: str, window_seconds: int, amount: int = 1) -> Count:
        self.gate.wait(5)
        return super().hit(key, window_seconds, amount)


def test_hits_being_flushed_still_count_against_the_limit() -> None:
    counters = SlowCounters()
    limiter = cache(counters)
    for _ in range(POLICY.limit):
        assert limiter.hit("k", POLICY).hits <= POLICY.limit
    counters.gate.clear()  # the flush of those hits hangs on its way to the database
    flushing = threading.Thread(target=limiter.flush)
    flushing.start()
    time.sleep(0.05)
    assert limiter.local_hit("k", POLICY) is None  # not let through on a stale count
    counters.gate.set()
    flushing.join()
    assert limiter.hit("k", POLICY).hits > POLICY.limit


def test_the_flusher_sleeps_while_nothing_is_pending_and_flushes_soon_after_a_hit() -> None:
    counters = FakeCounters()
    limiter = cache(counters)
    rounds: list[float] = []
    flush = limiter.flush

    def counted() -> None:
        rounds.append(time.monotonic())
        flush()

    limiter.flush = counted  # type: ignore[method-assign]
    limiter.hit("k", POLICY)  # settled at once: known here, nothing pending
    limiter.start()
    try:
        time.sleep(0.5)
        # An idle API: flushing every 50 ms woke each worker twenty times a second.
        assert rounds == []
        limiter.hit("k", POLICY)  # let through locally: pending
        deadline = time.monotonic() + 5
        while counters.hits["k"] < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert counters.hits["k"] == 2
    finally:
        limiter.stop()
