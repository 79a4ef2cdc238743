"""A projection's stored events, read from the event store in notification order."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from contracts.envelope import Envelope
from contracts.topics import partition_for, topic_for
from contracts.upcasting import EVENTS_BY_NAME, parse_topic, stored_topic
from projections.applier_types import Incoming
from projections.projection import Projection


class StoreReader:
    """Reads with ``contracts`` alone: a rebuild never imports the write side."""

    def __init__(
        self, projection: Projection, events: sql.Identifier, topic_prefix: str, batch_size: int
    ) -> None:
        self.events = events
        self.topic_prefix = topic_prefix
        self.batch_size = batch_size
        self.topics = [
            stored_topic(cls.type_name, version)
            for cls in EVENTS_BY_NAME.values()
            if cls.context in projection.contexts
            for version in range(1, cls.schema_version + 1)
        ]

    def count(self, conn: psycopg.Connection[Any], after: int) -> int:
        row = conn.execute(
            sql.SQL(
                "SELECT count(*) FROM {} WHERE notification_id > %s AND topic = ANY(%s)"
            ).format(self.events),
            (after, self.topics),
        ).fetchone()
        return int(row[0]) if row else 0

    def fetch(self, conn: psycopg.Connection[Any], after: int) -> list[tuple[Any, ...]]:
        """The next batch of this projection's stored events, in notification order."""
        return conn.execute(
            sql.SQL(
                "SELECT notification_id, originator_id, originator_version, topic, state FROM {}"
                " WHERE notification_id > %s AND topic = ANY(%s) ORDER BY notification_id LIMIT %s"
            ).format(self.events),
            (after, self.topics, self.batch_size),
        ).fetchall()

    def partition_of(self, type_name: str, aggregate_id: UUID) -> tuple[str, int]:
        topic = topic_for(EVENTS_BY_NAME[type_name], self.topic_prefix)
        return topic or "", partition_for(aggregate_id)

    def read(self, conn: psycopg.Connection[Any], after: int) -> Iterator[Incoming]:
        """The next batch, as the relay would have published it."""
        now = datetime.now(UTC)
        for notification_id, originator_id, version, stored, state in self.fetch(conn, after):
            type_name, schema_version = parse_topic(stored)
            topic = topic_for(EVENTS_BY_NAME[type_name], self.topic_prefix)
            assert topic is not None
            aggregate_id = UUID(str(originator_id))
            envelope = Envelope(
                notification_id, aggregate_id, version, type_name, schema_version, bytes(state)
            )
            yield Incoming(
                topic, partition_for(aggregate_id), -1, envelope.headers(now), envelope.payload
            )
