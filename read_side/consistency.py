r"""Read-your-writes: wait until a read model has applied what a consistency token names.

For each mark in the token whose topic feeds the read model, the read model's tracked
position on that (topic, partition) must reach the mark's notification id, and no event
at or below the mark may be parked there (behind a version gap or a dead letter).
Marks on topics the read model does not consume are satisfied by definition.

Waiting costs no database connection and no worker thread: one position watcher per
process (``read_side/position_watcher.py``) reads the positions and the event store's head
as :class:`Snapshot`\ s, and waiting requests are coroutines that look at its latest one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

import psycopg
from psycopg import sql

from contracts.bookkeeping import HEAD_FUNCTION, PARKED_TABLE, POSITIONS_TABLE
from contracts.consistency import PartitionMark
from contracts.readmodels import SOURCES
from contracts.topics import topic_name

log = logging.getLogger(__name__)

Key = tuple[str, str, int]  # (projection, topic, partition)


class ConsistencyTimeoutError(TimeoutError):
    """The read model did not catch up within the bounded wait."""


class TooManyWaitersError(RuntimeError):
    """This process already holds as many waiting requests as it allows."""


class BeyondHeadError(ValueError):
    """The token names an event the event store does not have (a store reset, say)."""


@dataclass(frozen=True)
class Snapshot:
    """Positions and parked events as of one statement, and the event store's head."""

    seq: int
    positions: dict[Key, int] = field(default_factory=dict)
    lowest_parked: dict[Key, int] = field(default_factory=dict)
    head: int = 0
    #: Per partition: aggregate tag → its lowest parked notification id there.
    parked_by_tag: dict[Key, dict[str, int]] = field(default_factory=dict)
    #: Per partition: when its position row was last saved. Every transaction that
    #: changes a read model's rows saves the position of a partition it read (batches,
    #: dead-letter releases, a rebuild's swap), so this changes whenever rows do.
    saved_at: dict[Key, str] = field(default_factory=dict)
    #: ``time.monotonic()`` when the statement that read this snapshot began.
    taken_at: float = 0.0

    #: Stamps already computed from this snapshot (every GET asks for one).
    _stamps: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)

    def stamp(self, projection: str) -> str:
        """What ``projection``'s rows reflect, as one string: it changes when they change."""
        if projection not in self._stamps:
            self._stamps[projection] = "|".join(
                f"{key[1]}:{key[2]}:{self.positions[key]}:{self.saved_at.get(key, '')}"
                for key in sorted(self.positions)
                if key[0] == projection
            )
        return self._stamps[projection]

    def pending(self, projection: str, marks: list[PartitionMark]) -> list[PartitionMark]:
        return [m for m in marks if not self._reflects(projection, m)]

    def _reflects(self, projection: str, mark: PartitionMark) -> bool:
        key = (projection, mark.topic, mark.partition)
        if self.positions.get(key, 0) < mark.notification_id:
            return False
        held = mark.notification_id + 1
        if not mark.aggregates:  # no tags: any parked event at or below the mark holds it
            return self.lowest_parked.get(key, held) > mark.notification_id
        tags = self.parked_by_tag.get(key, {})
        return all(tags.get(tag, held) > mark.notification_id for tag in mark.aggregates)


def relevant_marks(
    projection: str, marks: list[PartitionMark], topic_prefix: str
) -> list[PartitionMark]:
    topics = {topic_name(c, topic_prefix) for c in SOURCES[projection]}
    return [m for m in marks if m.topic in topics]


_SNAPSHOT = """
SELECT 'p', projection, topic, partition, notification_id, updated_at::text FROM {positions}
UNION ALL
SELECT 'k', projection, topic, partition, min(notification_id),
       left(replace(aggregate_id::text, '-', ''), 8)
FROM {parked} GROUP BY projection, topic, partition, aggregate_id
UNION ALL
SELECT 'h', '', '', 0, {head}(), ''
"""


def read_snapshot(conn: psycopg.Connection[Any], schema: str, seq: int) -> Snapshot:
    """One statement, so positions and parked events are from one instant."""
    statement = sql.SQL(_SNAPSHOT).format(
        positions=sql.Identifier(schema, POSITIONS_TABLE),
        parked=sql.Identifier(schema, PARKED_TABLE),
        head=sql.Identifier(schema, HEAD_FUNCTION),
    )
    snapshot, head = Snapshot(seq), 0
    for kind, projection, topic, partition, notification_id, tag in conn.execute(statement):
        key, nid = (projection, topic, partition), int(notification_id)
        if kind == "p":
            snapshot.positions[key] = nid
            snapshot.saved_at[key] = tag
        elif kind == "k":
            snapshot.lowest_parked[key] = min(snapshot.lowest_parked.get(key, nid), nid)
            tags = snapshot.parked_by_tag.setdefault(key, {})
            tags[tag] = min(tags.get(tag, nid), nid)
        else:
            head = nid
    return replace(snapshot, head=head)
