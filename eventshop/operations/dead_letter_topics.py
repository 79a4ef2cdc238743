"""Records known only from the dead-letter topics: junk, and letters of earlier releases.

Junk (no notification id: it never was an event) can only be discarded. A letter from
before sequenced dead letters had its version spent, so applying it late would be wrong;
it is replayed by a blue/green rebuild of its projection from the event store, in which
every event is applied in its place. Decisions are rows of
``<read schema>.dead_letter_resolutions``, keyed by the record's place on its topic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import psycopg
from kafka import KafkaConsumer, TopicPartition
from psycopg import sql

from contracts import bookkeeping as names
from contracts.topics import PARTITIONS, all_topics, dead_letter_topic
from eventshop import wiring
from eventshop.settings import Settings
from projections.rebuild.rebuilder import RebuildResult

PENDING, REPLAYED, DISCARDED = "pending", "replayed", "discarded"


@dataclass(frozen=True)
class Letter:
    id: str
    projection: str
    notification_id: int | None
    original: str  # <topic>:<partition>:<offset> the projector read it from
    error_class: str
    error_message: str
    #: Later events of its aggregate parked behind it in that projection.
    waiting: int
    status: str
    #: ``parked`` (sequenced), ``topic`` (only on a dead-letter topic).
    kept: str = "parked"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Outcome:
    id: str
    projection: str
    outcome: str  # replayed | discarded | still failing | refused
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def letter(record: Any) -> Letter:
    headers = {k: v.decode(errors="replace") for k, v in record.headers or []}
    raw_id = headers.get(names.DLT_NOTIFICATION_ID, "")
    return Letter(
        id=f"{record.topic}:{record.partition}:{record.offset}",
        projection=headers.get(names.DLT_PROJECTION, ""),
        notification_id=int(raw_id) if raw_id.isdigit() else None,
        original=":".join(
            headers.get(name, "?")
            for name in (
                names.DLT_ORIGINAL_TOPIC,
                names.DLT_ORIGINAL_PARTITION,
                names.DLT_ORIGINAL_OFFSET,
            )
        ),
        error_class=headers.get(names.DLT_ERROR_CLASS, ""),
        error_message=headers.get(names.DLT_ERROR_MESSAGE, ""),
        waiting=0,
        status=PENDING,
        kept="topic",
    )


def replay_by_rebuild(
    settings: Settings,
    chosen: list[Letter],
    rebuild: Callable[[str], RebuildResult] | None,
) -> list[Outcome]:
    rebuild = rebuild or (lambda name: wiring.rebuilder(settings, name).run())
    outcomes = [
        Outcome(x.id, x.projection, "refused", "no notification id: not from the event store")
        for x in chosen
        if x.notification_id is None
    ]
    by_projection: dict[str, list[Letter]] = {}
    for found in chosen:
        if found.notification_id is not None:
            by_projection.setdefault(found.projection, []).append(found)
    for name, group in sorted(by_projection.items()):
        result = rebuild(name)
        failing = dict(result.failed)
        replayed = [x for x in group if x.notification_id not in failing]
        resolve(settings, replayed, REPLAYED, f"rebuilt from {result.events} events")
        outcomes += [
            Outcome(x.id, name, REPLAYED, f"rebuilt {name} from {result.events} events")
            for x in replayed
        ]
        outcomes += [
            Outcome(x.id, name, "still failing", failing[x.notification_id])
            for x in group
            if x.notification_id in failing
        ]
    return outcomes


def resolve(settings: Settings, chosen: list[Letter], resolution: str, note: str) -> None:
    if not chosen:
        return
    with psycopg.connect(wiring.database_url(settings)) as conn:
        conn.cursor().executemany(
            sql.SQL(
                "INSERT INTO {}.dead_letter_resolutions (dlt_topic, partition, kafka_offset,"
                " projection, notification_id, resolution, note)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT DO NOTHING"
            ).format(sql.Identifier(settings.read_schema)),
            [(*_place(x.id), x.projection, x.notification_id, resolution, note) for x in chosen],
        )


def _place(letter_id: str) -> tuple[str, int, int]:
    topic, partition, offset = letter_id.rsplit(":", 2)
    return topic, int(partition), int(offset)


def read(settings: Settings) -> list[Any]:
    """Every record on the dead-letter topics, oldest first per partition."""
    consumer = KafkaConsumer(
        bootstrap_servers=wiring.kafka(settings),
        enable_auto_commit=False,
        consumer_timeout_ms=1000,
    )
    try:
        existing = consumer.topics()
        partitions = [
            TopicPartition(dead_letter_topic(t), p)
            for t in all_topics(settings.topic_prefix)
            if dead_letter_topic(t) in existing
            for p in range(PARTITIONS)
        ]
        if not partitions:
            return []
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        records: list[Any] = []
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            batch = consumer.poll(timeout_ms=500)
            if not batch:
                break
            for found in batch.values():
                records.extend(found)
        return sorted(records, key=lambda r: (r.topic, r.partition, r.offset))
    finally:
        consumer.close()
