"""Where a processing group resumes a partition it is newly assigned: where every member's
position says it has applied to.

The positions committed with the rows are the truth; the group's committed offsets only
follow them (docs/operations.md, "Processing groups"). A group new to its consumer-group
name (the first start after projections were regrouped) has no committed offsets and
would read every topic from the beginning, only to drop each record as a duplicate in
every member: it starts past what all of its members have applied instead. The records a
first poll already returned below that point are dropped unread.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from kafka import KafkaConsumer, TopicPartition
from psycopg import sql

from contracts.bookkeeping import POSITIONS_TABLE, RELAY_STATE_FUNCTION
from projections.live.member import Member
from projections.records import Incoming


class ResumePoints:
    def __init__(self, schema: str, members: Sequence[Member]) -> None:
        self.readers = {
            topic: sum(topic in m.topics for m in members)
            for topic in {t for m in members for t in m.topics}
        }
        self.names = [m.name for m in members]
        self._known: set[TopicPartition] = set()
        # Only positions of the relay's current epoch: an older epoch's offsets name
        # places in a log the broker has lost (the relay check rereads those from 0).
        self._query = sql.SQL(
            "SELECT p.topic, p.partition, min(p.kafka_offset) + 1, count(*)"
            " FROM {} p, {}() r WHERE p.projection = ANY(%s) AND p.topic = ANY(%s)"
            " AND p.relay_epoch = r.republished AND p.kafka_offset >= 0"
            " GROUP BY p.topic, p.partition"
        ).format(
            sql.Identifier(schema, POSITIONS_TABLE), sql.Identifier(schema, RELAY_STATE_FUNCTION)
        )

    def forget(self) -> None:
        """A new consumer: every partition it gets is newly assigned."""
        self._known = set()

    def after_poll(
        self, conn: psycopg.Connection[Any], consumer: KafkaConsumer, records: list[Incoming]
    ) -> list[Incoming]:
        """Move newly assigned partitions up to where every member has applied; returns
        ``records`` without those below it."""
        assigned = consumer.assignment()
        new, self._known = assigned - self._known, set(assigned)
        if not new:
            return records
        points = self._points(conn, new)
        fetched: dict[tuple[str, int], int] = {}  # the next offset after what was polled
        for r in records:
            key = (r.topic, r.partition)
            fetched[key] = max(fetched.get(key, 0), r.offset + 1)
        for key, offset in points.items():
            if key not in fetched or offset > fetched[key]:
                consumer.seek(TopicPartition(*key), offset)
        return [r for r in records if r.offset >= points.get((r.topic, r.partition), 0)]

    def _points(
        self, conn: psycopg.Connection[Any], partitions: set[TopicPartition]
    ) -> dict[tuple[str, int], int]:
        with conn.transaction():
            rows = conn.execute(
                self._query, (self.names, sorted({tp.topic for tp in partitions}))
            ).fetchall()
        wanted = {(tp.topic, tp.partition) for tp in partitions}
        return {
            (str(topic), int(partition)): int(offset)
            for topic, partition, offset, readers in rows
            if (topic, partition) in wanted and readers == self.readers.get(topic)
        }
