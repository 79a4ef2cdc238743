"""A busy group commits its consumer's offsets at most once a second; the positions
committed with the rows stay the truth (docs/operations.md, "Processing groups")."""

from __future__ import annotations

import time

from kafka import TopicPartition
from kafka.errors import CommitFailedError, KafkaError, NotCoordinatorError
from kafka.structs import OffsetAndMetadata

from projections.live.offsets import PendingOffsets

A, B = TopicPartition("shop.orders", 0), TopicPartition("shop.orders", 1)


class FakeConsumer:
    def __init__(self, *assigned: TopicPartition) -> None:
        self.assigned = set(assigned)
        self.commits: list[dict[TopicPartition, int]] = []
        #: What the next commit raises (the broker's answer), once.
        self.refusal: KafkaError | None = None

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        if self.refusal is not None:
            refusal, self.refusal = self.refusal, None
            raise refusal
        self.commits.append({tp: o.offset for tp, o in offsets.items()})


def _at(offset: int) -> OffsetAndMetadata:
    return OffsetAndMetadata(offset, "", -1)


def test_batches_within_the_interval_are_committed_once_with_the_latest_offsets() -> None:
    consumer, pending = FakeConsumer(A, B), PendingOffsets(every=0.2)
    for n in range(1, 21):  # twenty batches at once: none of them commits
        pending.add({A: _at(n)} if n % 2 else {B: _at(n)})
        pending.commit(consumer)
    assert consumer.commits == []
    time.sleep(0.25)
    pending.add({A: _at(21)})
    pending.commit(consumer)
    assert consumer.commits == [{A: 21, B: 20}]
    pending.commit(consumer, now=True)
    assert consumer.commits == [{A: 21, B: 20}], "nothing new: nothing sent"


def test_now_sends_at_once() -> None:
    consumer, pending = FakeConsumer(A), PendingOffsets(every=60)
    pending.add({A: _at(5)})
    pending.commit(consumer, now=True)
    assert consumer.commits == [{A: 5}]


def test_a_partition_no_longer_held_is_not_committed() -> None:
    consumer, pending = FakeConsumer(A, B), PendingOffsets(every=60)
    pending.add({A: _at(3), B: _at(4)})
    consumer.assigned = {B}  # a rebalance gave A to another instance
    pending.commit(consumer, now=True)
    assert consumer.commits == [{B: 4}]


def test_a_new_consumer_forgets_what_the_old_one_had_pending() -> None:
    consumer, pending = FakeConsumer(A), PendingOffsets(every=60)
    pending.add({A: _at(3)})
    pending.forget()
    pending.commit(consumer, now=True)
    assert consumer.commits == []


def test_a_commit_refused_by_a_rebalance_is_dropped_and_the_consumer_kept() -> None:
    """The generation moved on (kafka-python already asked to rejoin, in the next poll):
    the consumer must not be thrown away for it, which would rebalance everyone again. The
    partitions' next owners resume from the positions."""
    consumer, pending = FakeConsumer(A), PendingOffsets(every=60)
    pending.add({A: _at(3)})
    consumer.refusal = CommitFailedError("the group rebalanced")
    pending.commit(consumer, now=True)  # does not raise
    pending.commit(consumer, now=True)
    assert consumer.commits == []


def test_a_commit_the_coordinator_could_not_take_is_sent_again() -> None:
    consumer, pending = FakeConsumer(A), PendingOffsets(every=60)
    pending.add({A: _at(3)})
    consumer.refusal = NotCoordinatorError()  # the coordinator moved: found again in poll
    pending.commit(consumer, now=True)
    pending.commit(consumer, now=True)
    assert consumer.commits == [{A: 3}]
