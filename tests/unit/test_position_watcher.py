"""The position watcher's schedule, with a fake snapshot reader (no database)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from contracts.consistency import PartitionMark
from read_side.consistency import Snapshot
from read_side.position_watcher import PositionWatcher

KEY = ("products", "t.catalog", 0)


class FakePool:
    @contextmanager
    def connection(self, timeout: float = 0) -> Iterator[None]:
        yield None


def test_a_new_waiter_gets_a_snapshot_at_once_not_after_the_serving_pause() -> None:
    reads: list[int] = []

    def read(conn: Any, schema: str, seq: int) -> Snapshot:
        reads.append(seq)  # the write the waiter wants is applied after the first read
        return Snapshot(seq, positions={KEY: 10 if len(reads) > 1 else 0}, head=100)

    # While GETs arrive the watcher reads every serving_interval; a waiter must not wait
    # for that pause (it cost token reads 10 ms at the median with a 20 ms pause).
    watcher = PositionWatcher(FakePool(), "rm", serving_interval=60.0, read=read)  # type: ignore[arg-type]
    watcher.start()
    try:
        watcher.current()
        deadline = time.monotonic() + 5
        while not reads and time.monotonic() < deadline:
            time.sleep(0.01)
        assert reads == [1]  # one read, then the 60 s pause began

        asyncio.run(watcher.wait("products", [PartitionMark("t.catalog", 0, 10)], timeout=5))

        assert len(reads) == 2
    finally:
        watcher.stop()


class FakeNews:
    def __init__(self) -> None:
        self.callbacks: list[Any] = []

    def subscribe(self, callback: Any) -> Any:
        self.callbacks.append(callback)
        return lambda: self.callbacks.remove(callback)

    def tell(self) -> None:
        for callback in list(self.callbacks):
            callback()


def test_given_news_a_waiter_costs_a_read_on_arrival_and_one_per_batch_not_a_poll() -> None:
    reads: list[int] = []
    applied = [0]

    def read(conn: Any, schema: str, seq: int) -> Snapshot:
        reads.append(seq)
        return Snapshot(seq, positions={KEY: applied[0]}, head=100)

    news = FakeNews()
    watcher = PositionWatcher(FakePool(), "rm", news=news, safety_interval=60.0, read=read)  # type: ignore[arg-type]
    watcher.start()

    async def scenario() -> float:
        waiting = asyncio.create_task(
            watcher.wait("products", [PartitionMark("t.catalog", 0, 10)], timeout=30)
        )
        await asyncio.sleep(0.5)  # polling every 5 ms would have read about a hundred times
        assert reads == [1] and not waiting.done()
        applied[0] = 10  # a projector commits its batch and says so
        news.tell()
        began = time.monotonic()
        await waiting
        return time.monotonic() - began

    try:
        took = asyncio.run(scenario())
        assert reads == [1, 2]
        assert took < 5  # woken by the news, not by the 60 s safety read
        news.tell()  # nobody waits: news costs no read
        time.sleep(0.2)
        assert reads == [1, 2]
    finally:
        watcher.stop()
    assert news.callbacks == []  # stopped: unsubscribed
