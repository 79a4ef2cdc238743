"""Positions: one row per (projection, topic, partition), locked for each batch.

Locking the rows serializes two consumers that briefly both own a partition (a rebalance)
and a dead-letter release against the live projector: the second sees the first's
position and versions. A processing group locks all its members' rows in one statement
and moves them in one (:mod:`projections.live.opening`); rows are locked in one global
order (the group's member order, then topic and partition), so nobody deadlocks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import Cursor, sql

from contracts.bookkeeping import POSITIONS_TABLE, RELAY_STATE_FUNCTION
from projections.live.rowsets import rowset
from projections.records import Position, PositionMove

#: (projection, topic, partition)
PositionKey = tuple[str, str, int]
_KEY = ("projection", "topic", "partition")
_MOVE = (
    *_KEY,
    *("notification_id", "relay_epoch", "applied", "duplicates", "skipped", "dead_lettered"),
    *("rewinds", "parked", "kafka_offset", "high_watermark", "published_at"),
)


def lock(cur: Cursor[Any], schema: str, keys: Sequence[PositionKey]) -> dict[PositionKey, Position]:
    """Lock the rows of ``keys`` (created when new) in the order given; answer each as it is."""
    table = sql.Identifier(schema, POSITIONS_TABLE)
    found = _locked(cur, table, keys)
    missing = [k for k in keys if k not in found]
    if missing:  # a partition's first batch: two statements more, once
        cur.execute(
            sql.SQL(
                "INSERT INTO {} (projection, topic, partition)"
                " SELECT * FROM jsonb_to_recordset(%s::jsonb) AS v(projection text, topic text,"
                " partition int) ON CONFLICT DO NOTHING"
            ).format(table),
            (rowset(missing, _KEY),),
        )
        found |= _locked(cur, table, missing)
    return {k: Position(*found[k]) for k in keys}


def _locked(
    cur: Cursor[Any], table: sql.Identifier, keys: Sequence[PositionKey]
) -> dict[PositionKey, tuple[int, int]]:
    rows = cur.execute(
        sql.SQL(
            "SELECT t.projection, t.topic, t.partition, t.notification_id, t.relay_epoch"
            " FROM {} t JOIN ROWS FROM (jsonb_to_recordset(%s::jsonb)"
            " AS (projection text, topic text, partition int))"
            " WITH ORDINALITY AS k(projection, topic, partition, n)"
            " USING (projection, topic, partition) ORDER BY k.n FOR UPDATE OF t"
        ).format(table),
        (rowset(keys, _KEY),),
    ).fetchall()
    return {(str(p), str(t), int(n)): (int(nid), int(epoch)) for p, t, n, nid, epoch in rows}


def save(cur: Cursor[Any], schema: str, moves: Sequence[PositionMove]) -> None:
    """Add each move's counts to its row and move its marks forward (never back): one
    statement for all of them."""
    if moves:
        cur.execute(update(schema), (moved(moves),))


def update(schema: str) -> sql.Composed:
    """The statement :func:`save` runs (one parameter: :func:`moved`), for a caller that
    sends it with others in one statement (projections/live/group_batch.py)."""
    return sql.SQL(
        "UPDATE {} t SET notification_id = v.notification_id, applied = t.applied + v.applied,"
        " duplicates = t.duplicates + v.duplicates, skipped = t.skipped + v.skipped,"
        " dead_lettered = t.dead_lettered + v.dead_lettered, relay_epoch = v.relay_epoch,"
        " rewinds = t.rewinds + v.rewinds, parked = t.parked + v.parked,"
        # A newer relay epoch restarts the partition's offsets (the broker lost its
        # data and the relay republishes from offset 0): the old marks no longer apply.
        " kafka_offset = CASE WHEN t.relay_epoch < v.relay_epoch THEN -1"
        " ELSE greatest(t.kafka_offset, v.kafka_offset) END,"
        " high_watermark = CASE WHEN t.relay_epoch < v.relay_epoch THEN 0"
        " ELSE greatest(t.high_watermark, v.high_watermark) END,"
        " last_published_at = coalesce(v.published_at, t.last_published_at),"
        " updated_at = now()"
        " FROM jsonb_to_recordset(%s::jsonb) AS v(projection text, topic text,"
        " partition int, notification_id bigint, relay_epoch int, applied bigint,"
        " duplicates bigint, skipped bigint, dead_lettered bigint, rewinds bigint,"
        " parked bigint, kafka_offset bigint, high_watermark bigint,"
        " published_at timestamptz)"
        " WHERE t.projection = v.projection AND t.topic = v.topic"
        " AND t.partition = v.partition"
    ).format(sql.Identifier(schema, POSITIONS_TABLE))


def moved(moves: Sequence[PositionMove]) -> str:
    """``moves`` as :func:`update`'s parameter."""
    rows = (
        (
            m.projection,
            m.topic,
            m.partition,
            m.position.notification_id,
            m.position.relay_epoch,
            m.position.applied,
            m.position.duplicates,
            m.position.skipped,
            m.position.dead_lettered,
            m.position.rewinds,
            m.position.parked,
            m.kafka_offset,
            m.high_watermark,
            m.published_at,
        )
        for m in moves
    )
    return rowset(rows, _MOVE)


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
