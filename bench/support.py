"""Embedded servers and an isolated eventshop for benchmarks (same parts as the tests)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from eventshop.embedded import EmbeddedKafka, EmbeddedPostgres
from tests.support.stack import Servers, Stack, running_stack


@contextmanager
def bench_stack() -> Iterator[Stack]:
    data = Path(tempfile.mkdtemp(prefix="eventshop-bench-"))
    postgres, kafka = EmbeddedPostgres(data / "pg"), EmbeddedKafka()
    try:
        servers = Servers(postgres.start(), kafka.start())
        with running_stack(servers) as stack:
            yield stack
    finally:
        kafka.stop()
        postgres.stop()
        shutil.rmtree(data, ignore_errors=True)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * fraction), len(ordered) - 1)]
