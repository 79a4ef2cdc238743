"""Where a projector's Kafka consumer reads and what it commits: offsets, seeks, marks.

Offsets are committed only after the read-model transaction (:mod:`projections.live.consumer`);
whatever was read and not committed is read again, by seeking back.
"""

from __future__ import annotations

import logging
import time

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import (
    CommitFailedError,
    CoordinatorNotAvailableError,
    NotCoordinatorError,
    RebalanceInProgressError,
    RequestTimedOutError,
)
from kafka.structs import OffsetAndMetadata

from projections.records import Incoming

log = logging.getLogger(__name__)
#: The group's generation moved on: kafka-python has asked to rejoin (in the next poll).
_REBALANCED = (CommitFailedError, RebalanceInProgressError)
#: The coordinator is being found again (in the next poll): the offsets wait for it.
_NO_COORDINATOR = (CoordinatorNotAvailableError, NotCoordinatorError, RequestTimedOutError)


def rewind(consumer: KafkaConsumer) -> None:
    """Back to the committed offsets: records polled since were not applied (the
    database failed), and are read again."""
    for tp in consumer.assignment():
        committed = consumer.committed(tp)
        if committed is None:
            consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, committed)


def high_watermarks(consumer: KafkaConsumer, records: list[Incoming]) -> dict[tuple[str, int], int]:
    marks = {}
    for topic, partition in {(r.topic, r.partition) for r in records}:
        mark = consumer.highwater(TopicPartition(topic, partition))
        if mark is not None:
            marks[(topic, partition)] = int(mark)
    return marks


def seek_back(
    consumer: KafkaConsumer, records: list[Incoming], *skipped: dict[tuple[str, int], int]
) -> None:
    """Read ``records`` again, and from the ``skipped`` offsets (a member's that let records
    pass while it waited for a rebuild) where they are earlier; owned partitions only."""
    first: dict[tuple[str, int], int] = {}
    for record in records:
        key = (record.topic, record.partition)
        first[key] = min(first.get(key, record.offset), record.offset)
    for marks in skipped:
        for key, offset in marks.items():
            first[key] = min(first.get(key, offset), offset)
    assigned = consumer.assignment()
    for (topic, partition), offset in first.items():
        if (tp := TopicPartition(topic, partition)) in assigned:
            consumer.seek(tp, offset)


def offsets_to_commit(
    records: list[Incoming], rewind: set[tuple[str, int]], *held: dict[tuple[str, int], int]
) -> dict[TopicPartition, OffsetAndMetadata]:
    """Past the last record of each partition, its start when it is to be reread, and never
    beyond an offset ``held`` (a waiting member's first skipped one)."""
    next_offsets: dict[tuple[str, int], int] = {}
    for record in records:
        key = (record.topic, record.partition)
        next_offsets[key] = 0 if key in rewind else record.offset + 1
    for marks in held:
        for key, offset in marks.items():
            if key in next_offsets:
                next_offsets[key] = min(next_offsets[key], offset)
    return {
        TopicPartition(topic, partition): OffsetAndMetadata(offset, "", -1)
        for (topic, partition), offset in next_offsets.items()
    }


#: How often a busy group commits its consumer's offsets (docs/operations.md, "Processing
#: groups"). The positions committed with the rows are the truth; the offsets only spare
#: a new owner the reading of records it would drop.
COMMIT_EVERY_SECONDS = 1.0


class PendingOffsets:
    """The offsets of batches already committed in PostgreSQL, sent to the broker at most
    every ``every`` seconds (each commit is a round trip through the consumer's network
    thread and a write on the broker: per batch, it was a third of the projector's Kafka
    requests at 40 commands/s)."""

    def __init__(self, every: float = COMMIT_EVERY_SECONDS) -> None:
        self.every = every
        self._pending: dict[TopicPartition, OffsetAndMetadata] = {}
        self._sent_at = time.monotonic()

    def add(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        self._pending.update(offsets)  # a later batch's offset for a partition wins

    def commit(self, consumer: KafkaConsumer, *, now: bool = False) -> None:
        """Send what is pending if ``every`` has passed (or ``now``), for the partitions the
        consumer still holds: a revoked one's new owner resumes from the positions."""
        if not self._pending or (not now and time.monotonic() - self._sent_at < self.every):
            return
        held = consumer.assignment()
        mine = {tp: offset for tp, offset in self._pending.items() if tp in held}
        self._pending.clear()
        self._sent_at = time.monotonic()
        if not mine:
            return
        try:
            consumer.commit(mine)
        except _REBALANCED as error:
            # Not a reason to throw the consumer away (a new one rebalances everyone
            # again): whoever holds the partitions next resumes from the positions.
            log.info("offsets not committed, the group is rebalancing: %s", error)
        except _NO_COORDINATOR as error:
            log.info("offsets not committed yet, no coordinator: %s", error)
            self._pending = mine  # sent with the next commit; a later batch's offset replaces it

    def forget(self) -> None:
        self._pending.clear()
