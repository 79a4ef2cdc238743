"""A projection's position rows: one per (projection, topic, partition), locked per batch.

Locking the row serializes two consumers that briefly both own a partition (a rebalance)
and a dead-letter release against the live projector: the second sees the first's
position and versions. Rows are locked in one global order, so nobody deadlocks.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import Cursor, sql

from contracts.bookkeeping import POSITIONS_TABLE, RELAY_STATE_FUNCTION
from projections.records import Position


class PositionRows:
    def __init__(self, schema: str, projection: str) -> None:
        self.projection = projection
        table = sql.Identifier(schema, POSITIONS_TABLE)
        self._ensure = sql.SQL(
            "INSERT INTO {} (projection, topic, partition) VALUES (%s, %s, %s)"
            " ON CONFLICT DO NOTHING"
        ).format(table)
        self._lock = sql.SQL(
            "SELECT notification_id, relay_epoch FROM {}"
            " WHERE projection = %s AND topic = %s AND partition = %s FOR UPDATE"
        ).format(table)
        self._save = sql.SQL(
            "UPDATE {} SET notification_id = %s, applied = applied + %s,"
            " duplicates = duplicates + %s, skipped = skipped + %s,"
            " dead_lettered = dead_lettered + %s, relay_epoch = %s, rewinds = rewinds + %s,"
            " parked = parked + %s,"
            # A newer relay epoch restarts the partition's offsets (the broker lost its
            # data and the relay republishes from offset 0): the old marks no longer apply.
            " kafka_offset = CASE WHEN relay_epoch < %s THEN -1"
            " ELSE greatest(kafka_offset, %s) END,"
            " high_watermark = CASE WHEN relay_epoch < %s THEN 0"
            " ELSE greatest(high_watermark, %s) END,"
            " last_published_at = coalesce(%s, last_published_at), updated_at = now()"
            " WHERE projection = %s AND topic = %s AND partition = %s"
        ).format(table)

    def lock(self, cur: Cursor[Any], topic: str, partition: int) -> Position:
        args = (self.projection, topic, partition)
        row = cur.execute(self._lock, args).fetchone()
        if row is None:  # the partition's first batch: one statement more, once
            cur.execute(self._ensure, args)
            row = cur.execute(self._lock, args).fetchone()
        assert row is not None
        return Position(int(row[0]), int(row[1]))

    def save(
        self,
        cur: Cursor[Any],
        topic: str,
        partition: int,
        p: Position,
        *,
        kafka_offset: int = -1,
        high_watermark: int = 0,
        published_at: datetime | None = None,
    ) -> None:
        """Add the counts in ``p`` to the row and move its marks forward (never back)."""
        cur.execute(
            self._save,
            (
                p.notification_id,
                p.applied,
                p.duplicates,
                p.skipped,
                p.dead_lettered,
                p.relay_epoch,
                p.rewinds,
                p.parked,
                p.relay_epoch,
                kafka_offset,
                p.relay_epoch,
                high_watermark,
                published_at,
                self.projection,
                topic,
                partition,
            ),
        )


def behind_the_relay(cur: Cursor[Any], schema: str, projections: list[str]) -> set[tuple[str, int]]:
    """Partitions where a position of ``projections`` is of an older relay epoch than the
    relay's: the broker lost its data and the relay republishes from offset 0, below where
    the consumer had read, so it may sit at the new log's end without ever meeting a
    newer-epoch record (then it looked caught up while its lag, truthfully, never fell).
    One query for a whole processing group."""
    rows = cur.execute(
        sql.SQL(
            "SELECT DISTINCT p.topic, p.partition FROM {} p, {}() r"
            " WHERE p.projection = ANY(%s) AND p.relay_epoch < r.republished"
        ).format(
            sql.Identifier(schema, POSITIONS_TABLE), sql.Identifier(schema, RELAY_STATE_FUNCTION)
        ),
        (projections,),
    ).fetchall()
    return {(str(topic), int(partition)) for topic, partition in rows}
