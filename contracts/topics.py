"""Kafka topic names, their partition count and the partition of an aggregate.

Topic names are published: ``shop.<context>`` forever. A deployment may put a prefix
in front (``EVENTSHOP_TOPIC_PREFIX``) so several installations or test runs share a broker.
"""

from __future__ import annotations

from uuid import UUID

from contracts.events import ALL_EVENTS, ContractEvent

#: Every topic is created with this many partitions; the relay and the consistency
#: token both derive an aggregate's partition from it, so changing it is a migration.
PARTITIONS = 3

#: Every Kafka client of ours reconnects at least this often while the broker is away.
#: kafka-python backs off up to 30 s by default, so a broker back after 15 s was found
#: up to 30 s later; 1 s is the Java client's default.
RECONNECT_BACKOFF_MAX_MS = 1000
#: kafka-python keeps client metrics of its own (sensors on every send, fetch and answer)
#: that nothing here reads: 8 % of the relay's CPU under load, 2 % of a projector's.
CLIENT_METRICS = False

CONTEXTS: tuple[str, ...] = tuple(
    sorted({cls.context for cls in ALL_EVENTS if cls.context is not None})
)


#: Stored event types that are never published, by name. The relay passes these and
#: publishes the types it has a topic for; any other stored type (written by a newer
#: release than the relay's) stops it at that event until a release that knows it runs.
INTERNAL_EVENT_TYPES: frozenset[str] = frozenset(
    {
        "EmailClaimed",
        "EmailReclaimed",
        "EmailReleased",
        "PasswordSet",
        "PaymentCaptured",
        "PaymentDeclined",
        "PaymentFailed",
        "PaymentRefunded",
        "PaymentRestarted",
        "PaymentStarted",
        "SkuClaimed",
    }
)


def topic_name(context: str, prefix: str = "") -> str:
    return f"{prefix}shop.{context}"


def topic_for(event_cls: type[ContractEvent], prefix: str = "") -> str | None:
    """The topic an event type is published to, or ``None`` for internal events."""
    return None if event_cls.context is None else topic_name(event_cls.context, prefix)


def all_topics(prefix: str = "") -> list[str]:
    return [topic_name(context, prefix) for context in CONTEXTS]


def dead_letter_topic(topic: str) -> str:
    return f"{topic}.dlt"


_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """MurmurHash2 as Kafka's default partitioner computes it (the Java client's
    ``Utils.murmur2``), so every Kafka client puts a key on the same partition we do.
    Here rather than imported, so the contracts need no broker client."""
    m, length = 0x5BD1E995, len(data)
    h = (0x9747B28C ^ length) & _MASK
    for i in range(0, length - length % 4, 4):
        k = (int.from_bytes(data[i : i + 4], "little") * m) & _MASK
        k = ((k ^ (k >> 24)) * m) & _MASK
        h = ((h * m) & _MASK) ^ k
    tail = data[length - length % 4 :]
    if tail:
        h ^= int.from_bytes(tail, "little")
        h = (h * m) & _MASK
    h = ((h ^ (h >> 13)) * m) & _MASK
    return h ^ (h >> 15)


def partition_for(aggregate_id: UUID | str, partitions: int = PARTITIONS) -> int:
    """Kafka's default partitioner (murmur2 of the key), so other clients agree with us."""
    key = str(aggregate_id).encode()
    hashed: int = murmur2(key)
    return (hashed & 0x7FFFFFFF) % partitions
