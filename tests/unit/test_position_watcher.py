"""The position watcher's schedule, with a fake snapshot reader (no database)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from contracts.consistency import PartitionMark
from read_side.consistency import PositionWatcher, Snapshot

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
