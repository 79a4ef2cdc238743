"""Where a projector's Kafka consumer reads and what it commits: offsets, seeks, marks.

Offsets are committed only after the read-model transaction (:mod:`projections.live.consumer`);
whatever was read and not committed is read again, by seeking back.
"""

from __future__ import annotations

from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from projections.records import BatchOutcome, Incoming


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


def seek_back(consumer: KafkaConsumer, records: list[Incoming]) -> None:
    first: dict[TopicPartition, int] = {}
    for record in records:
        tp = TopicPartition(record.topic, record.partition)
        first[tp] = min(first.get(tp, record.offset), record.offset)
    for tp, offset in first.items():
        consumer.seek(tp, offset)


def offsets_to_commit(
    records: list[Incoming], outcome: BatchOutcome
) -> dict[TopicPartition, OffsetAndMetadata]:
    """Past the last record of each partition, or its start when it is to be reread."""
    offsets: dict[TopicPartition, OffsetAndMetadata] = {}
    for record in records:
        rewind = (record.topic, record.partition) in outcome.rewind
        offsets[TopicPartition(record.topic, record.partition)] = OffsetAndMetadata(
            0 if rewind else record.offset + 1, "", -1
        )
    return offsets
