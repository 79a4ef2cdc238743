"""The per-attempt aggregate locks (write_side/application/aggregate_locks.py)."""

from __future__ import annotations

import threading
import time
from uuid import UUID, uuid4

from write_side.application.aggregate_locks import AggregateLocks


def test_attempts_on_one_aggregate_take_turns() -> None:
    locks, hot = AggregateLocks(), uuid4()
    inside, most = 0, 0
    guard = threading.Lock()

    def attempt() -> None:
        nonlocal inside, most
        with locks.unit():
            locks.hold(hot)
            with guard:
                inside += 1
                most = max(most, inside)
            time.sleep(0.005)
            with guard:
                inside -= 1

    threads = [threading.Thread(target=attempt) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == 1
    assert locks.in_use == 0 and locks.timeouts == 0


def test_opposite_orders_wait_a_bounded_time_then_go_on_without_the_lock() -> None:
    locks, a, b = AggregateLocks(first_wait=5, next_wait=0.05), uuid4(), uuid4()
    both_first = threading.Barrier(2)
    done: list[float] = []

    def attempt(first: UUID, second: UUID) -> None:
        with locks.unit():
            locks.hold(first)
            both_first.wait()
            started = time.monotonic()
            locks.hold(second)
            done.append(time.monotonic() - started)

    threads = [
        threading.Thread(target=attempt, args=(a, b)),
        threading.Thread(target=attempt, args=(b, a)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert len(done) == 2, "a deadlock"
    assert locks.timeouts >= 1
    assert max(done) < 1
    assert locks.in_use == 0


def test_outside_an_attempt_reads_take_no_lock_and_an_inner_unit_shares_the_outer() -> None:
    locks, x = AggregateLocks(), uuid4()
    locks.hold(x)
    assert locks.in_use == 0
    with locks.unit():
        locks.hold(x)
        with locks.unit():
            locks.hold(x)  # already held by this attempt: no self-deadlock
        assert locks.in_use == 1
    assert locks.in_use == 0
