"""Embedded servers and an isolated eventshop for benchmarks (same parts as the tests)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from kafka import KafkaConsumer, TopicPartition
from psycopg import sql

from contracts.topics import PARTITIONS
from eventshop.embedded import EmbeddedKafka, EmbeddedPostgres
from eventshop.settings import Settings
from tests.support.stack import Servers, Stack, running_stack

#: The checkout this bench code lives in.
CHECKOUT = Path(__file__).resolve().parents[1]


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


@contextmanager
def worktree(rev: str) -> Iterator[Path]:
    """A ``git worktree`` of ``rev`` in a temporary directory (the other side of an A/B),
    removed afterwards."""
    git = ["git", "-C", str(CHECKOUT)]
    with tempfile.TemporaryDirectory(prefix="eventshop-ab-") as work:
        other = Path(work) / "other"
        subprocess.run([*git, "worktree", "add", "--detach", "-q", str(other), rev], check=True)
        try:
            yield other
        finally:
            subprocess.run([*git, "worktree", "remove", "--force", str(other)], check=False)


def drop_schemas(conn: psycopg.Connection[Any], settings: Settings) -> None:
    """Drop an isolated eventshop's read and event schemas: an external server a bench ran
    on keeps nothing of it."""
    for schema in (settings.read_schema, settings.event_schema):
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def consume_all(bootstrap: str, topics: list[str], max_poll_records: int) -> dict[str, int]:
    """Read every record of ``topics`` from the start, in polls of ``max_poll_records`` (fetch
    wait as the projectors'), with no group to join: the count per topic. What a consumer
    costs before any projection work, the limit projector benches are measured against."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        max_poll_records=max_poll_records,
        fetch_max_wait_ms=Settings.model_fields["kafka_fetch_max_wait_ms"].default,
    )
    try:
        partitions = [TopicPartition(t, p) for t in topics for p in range(PARTITIONS)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = sum(consumer.end_offsets(partitions).values())
        counts = dict.fromkeys(topics, 0)
        while sum(counts.values()) < ends:
            for tp, records in consumer.poll(timeout_ms=200).items():
                counts[tp.topic] += len(records)
        return counts
    finally:
        consumer.close()
