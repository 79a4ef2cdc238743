"""A projection's stored events, read from the event store in notification order."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from contracts.envelope import Envelope
from contracts.placement import Placement, place
from contracts.upcasting import EVENTS_BY_NAME, every_stored_topic, parse_topic
from projections.projection import Projection
from projections.records import Incoming, UnreadableStoreError


@dataclass(frozen=True)
class Cutoff:
    """What a live projector had applied when verify looked: each event at or below its
    partition's position, and each event at or below its aggregate's version in the live
    versions table (a rebuild leaves the live tables ahead of the projector's positions:
    the projector meets those events later, as duplicates)."""

    positions: dict[tuple[str, int], int]
    #: A copy of the live ``(aggregate_id, version)`` rows, taken with the live tables.
    versions: sql.Identifier

    def holds(
        self,
        notification_id: int,
        partition: tuple[str, int],
        version: int,
        live_version: int | None,
    ) -> bool:
        return notification_id <= self.positions.get(partition, 0) or (
            live_version is not None and version <= live_version
        )


class StoreReader:
    """Reads with ``contracts`` alone: a rebuild never imports the write side."""

    def __init__(
        self, projection: Projection, events: sql.Identifier, topic_prefix: str, batch_size: int
    ) -> None:
        self.events = events
        self.topic_prefix = topic_prefix
        self.batch_size = batch_size
        self.topics = every_stored_topic(
            *(cls for cls in EVENTS_BY_NAME.values() if cls.context in projection.contexts)
        )
        #: Every stored topic this release reads, internal ones included.
        self.known = every_stored_topic(*EVENTS_BY_NAME.values())

    def count(self, conn: psycopg.Connection[Any], after: int) -> int:
        """How many of the projection's events follow ``after``. In the same scan, refuses
        a store holding a type or version this release cannot read: the fetch reads only
        known topics, so passing over them would build a model missing their effects."""
        row = conn.execute(
            sql.SQL(
                "SELECT count(*) FILTER (WHERE topic = ANY(%s)),"
                " (array_agg(DISTINCT topic) FILTER (WHERE NOT topic = ANY(%s)))[1:5]"
                " FROM {} WHERE notification_id > %s"
            ).format(self.events),
            (self.topics, self.known, after),
        ).fetchone()
        if row and row[1]:
            raise UnreadableStoreError(list(row[1]))
        return int(row[0]) if row else 0

    def fetch(
        self, conn: psycopg.Connection[Any], after: int, cutoff: Cutoff | None = None
    ) -> list[tuple[Any, ...]]:
        """The next batch of this projection's stored events, in notification order; with
        ``cutoff``, each with its aggregate's live version (or None) after the state."""
        live = sql.SQL(", v.version") if cutoff else sql.SQL("")
        join = (
            sql.SQL(" LEFT JOIN {} v ON v.aggregate_id = e.originator_id").format(cutoff.versions)
            if cutoff
            else sql.SQL("")
        )
        return conn.execute(
            sql.SQL(
                "SELECT e.notification_id, e.originator_id, e.originator_version, e.topic,"
                " e.state{} FROM {} e{} WHERE e.notification_id > %s AND e.topic = ANY(%s)"
                " ORDER BY e.notification_id LIMIT %s"
            ).format(live, self.events, join),
            (after, self.topics, self.batch_size),
        ).fetchall()

    def envelopes(
        self, rows: list[tuple[Any, ...]], cutoff: Cutoff | None = None
    ) -> list[Envelope]:
        """A fetched batch as envelopes; with ``cutoff``, only what it holds."""
        found = []
        for row in rows:
            notification_id, originator_id, version, stored, state = row[:5]
            type_name, schema_version = parse_topic(stored)
            aggregate_id = (
                originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id))
            )
            if cutoff is not None and not cutoff.holds(
                notification_id, self.partition_of(stored, aggregate_id), version, row[5]
            ):
                continue
            found.append(
                Envelope(
                    notification_id, aggregate_id, version, type_name, schema_version, bytes(state)
                )
            )
        return found

    def placed(self, stored_topic: str, aggregate_id: UUID) -> Placement:
        placed = place(stored_topic, aggregate_id, self.topic_prefix)
        assert placed is not None, "a projection's sources are published events"
        return placed

    def partition_of(self, stored_topic: str, aggregate_id: UUID) -> tuple[str, int]:
        placed = place(stored_topic, aggregate_id, self.topic_prefix)
        return (placed.topic, placed.partition) if placed else ("", 0)

    def read(self, conn: psycopg.Connection[Any], after: int) -> Iterator[Incoming]:
        """The next batch, as the relay would have published it."""
        now = datetime.now(UTC)
        for notification_id, originator_id, version, stored, state in self.fetch(conn, after):
            aggregate_id = UUID(str(originator_id))
            placed = place(stored, aggregate_id, self.topic_prefix)
            assert placed is not None, "a projection's sources are published events"
            envelope = Envelope(
                notification_id,
                aggregate_id,
                version,
                placed.event_type,
                placed.schema_version,
                bytes(state),
            )
            yield Incoming(
                placed.topic, placed.partition, -1, envelope.headers(now), envelope.payload
            )
