"""Dead letters: list them, replay them once the bug is fixed, or discard them.

A projector sends a record it cannot apply to ``<topic>.dlt`` and moves on. The event's
aggregate version is then spent: fed back to the live projector it would be dropped as a
duplicate, and applied out of its place in history it would be wrong for most handlers
(a late title change would overwrite a newer title; a late creation would miss every
later change). So a **replay rebuilds the projection** from the event store, blue/green
(:mod:`projections.rebuild`): every event, the dead-lettered ones included, is applied in
order by the code deployed now. A letter the rebuild still cannot apply stays pending,
with the new error. A letter with no notification id never came from the event store
(junk written to a topic): there is nothing to replay; **discard** it.

Decisions are rows of ``<read schema>.dead_letter_resolutions``; the topics are left as
they are (they are the evidence).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import psycopg
from kafka import KafkaConsumer, TopicPartition
from psycopg import sql

from contracts.topics import PARTITIONS, all_topics, dead_letter_topic
from eventshop import wiring
from eventshop.settings import Settings
from projections.rebuild import RebuildResult

PENDING, REPLAYED, DISCARDED = "pending", "replayed", "discarded"


class UnknownLetterError(LookupError):
    """An id that names no pending dead letter."""


@dataclass(frozen=True)
class Letter:
    id: str  # <dead-letter topic>:<partition>:<offset>
    projection: str
    notification_id: int | None
    original: str  # <topic>:<partition>:<offset> the projector read it from
    error_class: str
    error_message: str
    status: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Outcome:
    id: str
    projection: str
    outcome: str  # replayed | still failing | refused | discarded
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def letters(settings: Settings, *, include_resolved: bool = False) -> list[Letter]:
    """Every record on the dead-letter topics, oldest first per partition."""
    resolved = _resolutions(settings)
    found = [
        _letter(record, resolved.get((record.topic, record.partition, record.offset), PENDING))
        for record in _read_topics(settings)
    ]
    return [x for x in found if include_resolved or x.status == PENDING]


def discard(settings: Settings, ids: list[str] | None, note: str = "") -> list[Outcome]:
    """Mark pending letters (``None``: all of them) as handled without replaying them."""
    chosen = _select(settings, ids)
    _resolve(settings, chosen, DISCARDED, note)
    return [Outcome(x.id, x.projection, DISCARDED, note) for x in chosen]


def replay(
    settings: Settings,
    ids: list[str] | None,
    *,
    rebuild: Callable[[str], RebuildResult] | None = None,
) -> list[Outcome]:
    """Rebuild each projection that has pending letters among ``ids`` (``None``: all).

    ``rebuild(name)`` runs the rebuild (the CLI's shows progress)."""
    rebuild = rebuild or (lambda name: wiring.rebuilder(settings, name).run())
    chosen = _select(settings, ids)
    outcomes = [
        Outcome(x.id, x.projection, "refused", "no notification id: not from the event store")
        for x in chosen
        if x.notification_id is None
    ]
    by_projection: dict[str, list[Letter]] = {}
    for letter in chosen:
        if letter.notification_id is not None:
            by_projection.setdefault(letter.projection, []).append(letter)
    for name, group in sorted(by_projection.items()):
        result = rebuild(name)
        failing = {nid: error for nid, error in result.failed}
        replayed = [x for x in group if x.notification_id not in failing]
        _resolve(settings, replayed, REPLAYED, f"rebuilt from {result.events} events")
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


def _select(settings: Settings, ids: list[str] | None) -> list[Letter]:
    pending = letters(settings)
    if ids is None:
        return pending
    by_id = {x.id: x for x in pending}
    unknown = [i for i in ids if i not in by_id]
    if unknown:
        raise UnknownLetterError(f"no pending dead letter with id {', '.join(unknown)}")
    return [by_id[i] for i in dict.fromkeys(ids)]


def _resolutions(settings: Settings) -> dict[tuple[str, int, int], str]:
    with psycopg.connect(wiring.database_url(settings)) as conn:
        rows = conn.execute(
            sql.SQL(
                "SELECT dlt_topic, partition, kafka_offset, resolution"
                " FROM {}.dead_letter_resolutions"
            ).format(sql.Identifier(settings.read_schema))
        ).fetchall()
    return {(topic, partition, offset): status for topic, partition, offset, status in rows}


def _resolve(settings: Settings, chosen: list[Letter], resolution: str, note: str) -> None:
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
            [(*_position(x.id), x.projection, x.notification_id, resolution, note) for x in chosen],
        )


def _position(letter_id: str) -> tuple[str, int, int]:
    topic, partition, offset = letter_id.rsplit(":", 2)
    return topic, int(partition), int(offset)


def _letter(record: Any, status: str) -> Letter:
    headers = {k: v.decode(errors="replace") for k, v in record.headers or []}
    raw_id = headers.get("dlt.notification_id", "")
    return Letter(
        id=f"{record.topic}:{record.partition}:{record.offset}",
        projection=headers.get("dlt.projection", ""),
        notification_id=int(raw_id) if raw_id.isdigit() else None,
        original=":".join(
            headers.get(f"dlt.original_{part}", "?") for part in ("topic", "partition", "offset")
        ),
        error_class=headers.get("dlt.error_class", ""),
        error_message=headers.get("dlt.error_message", ""),
        status=status,
    )


def _read_topics(settings: Settings) -> list[Any]:
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
