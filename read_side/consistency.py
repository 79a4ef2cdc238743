"""Read-your-writes: wait until a read model has applied what a consistency token names.

For each mark in the token whose topic feeds the read model, the read model's tracked
position on that (topic, partition) must reach the mark's notification id. Marks on
topics the read model does not consume are satisfied by definition.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from psycopg import Connection, sql

from contracts.consistency import PartitionMark
from contracts.readmodels import PARKED_TABLE, POSITIONS_TABLE, SOURCES
from contracts.topics import topic_name


class ConsistencyTimeoutError(TimeoutError):
    """The read model did not catch up within the bounded wait."""


def pending_marks(
    conn: Connection[Any],
    schema: str,
    projection: str,
    marks: list[PartitionMark],
    topic_prefix: str,
) -> list[PartitionMark]:
    topics = {topic_name(c, topic_prefix) for c in SOURCES[projection]}
    relevant = [m for m in marks if m.topic in topics]
    if not relevant:
        return []
    rows = conn.execute(
        sql.SQL("SELECT topic, partition, notification_id FROM {} WHERE projection = %s").format(
            sql.Identifier(schema, POSITIONS_TABLE)
        ),
        (projection,),
    ).fetchall()
    positions = {(t, p): n for t, p, n in rows}
    behind = [m for m in relevant if positions.get((m.topic, m.partition), 0) < m.notification_id]
    if len(behind) == len(relevant):
        return behind
    # Reached, unless an event at or below the mark is parked behind a version gap.
    parked = conn.execute(
        sql.SQL(
            "SELECT topic, partition, min(notification_id) FROM {}"
            " WHERE projection = %s GROUP BY topic, partition"
        ).format(sql.Identifier(schema, PARKED_TABLE)),
        (projection,),
    ).fetchall()
    lowest = {(t, p): n for t, p, n in parked}
    return [
        m
        for m in relevant
        if m in behind
        or lowest.get((m.topic, m.partition), m.notification_id + 1) <= m.notification_id
    ]


def wait_for_marks(
    check: Callable[[], list[PartitionMark]],
    timeout: float,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Poll ``check`` with a short, growing interval until nothing is pending or time is up."""
    deadline = time.monotonic() + timeout
    interval = 0.005
    while check():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ConsistencyTimeoutError
        sleep(min(interval, remaining))
        interval = min(interval * 2, 0.05)
