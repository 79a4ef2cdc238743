"""What the applier consumes and answers: records, outcomes, positions and its errors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from uuid import UUID

import psycopg

from contracts.envelope import H_PUBLISHED_AT
from contracts.upcasting import UndecodableEventError, UnknownEventTypeError


@dataclass(frozen=True)
class Incoming:
    """One Kafka record, as much of it as a projection needs."""

    topic: str
    partition: int
    offset: int
    headers: list[tuple[str, bytes]]
    value: bytes | None


@dataclass(frozen=True)
class DeadLetter:
    record: Incoming
    notification_id: int | None
    error: BaseException


#: Errors about the event itself: retrying cannot help, so dead-letter at once.
DETERMINISTIC_ERRORS = (
    UndecodableEventError,
    UnknownEventTypeError,
    psycopg.DataError,
    psycopg.IntegrityError,
    ValueError,
    TypeError,
    KeyError,
)


class RetryCarefullyError(Exception):
    """A handler failed on the fast path; the batch is rolled back and redone carefully."""


class HandlerFailedError(Exception):
    """A handler failed for a reason that may pass: the batch rolls back and is retried."""

    def __init__(self, record: Incoming, error: BaseException) -> None:
        super().__init__(f"{record.topic}:{record.partition}@{record.offset}: {error!r}")
        self.record = record


@dataclass(kw_only=True)
class Counts:
    """What happened to events: the one set of counters a position row, a batch's outcome
    and a projector's metrics each hold."""

    applied: int = 0
    duplicates: int = 0
    skipped: int = 0
    parked: int = 0
    dead_lettered: int = 0
    rewinds: int = 0

    def add(self, other: Counts) -> None:
        for name in COUNTED:
            setattr(self, name, getattr(self, name) + getattr(other, name))


COUNTED = tuple(f.name for f in fields(Counts))


@dataclass
class Position(Counts):
    """A partition's position as a batch finds it, and what the batch counted there (the
    rules count on the position only; the batch's outcome is the sum of its positions)."""

    notification_id: int
    relay_epoch: int


#: (projection, aggregate id, the version it has applied)
Versioned = tuple[str, UUID, int]


@dataclass(frozen=True)
class PositionMove:
    """What one batch did at one partition of one projection: its counts, the highest
    notification it reached, and the marks operators read the lag from."""

    projection: str
    topic: str
    partition: int
    position: Position
    kafka_offset: int = -1
    high_watermark: int = 0
    published_at: datetime | None = None


@dataclass
class BatchOutcome(Counts):
    dead_letters: list[DeadLetter] = field(default_factory=list)
    #: Partitions to reread from their beginning: a newer relay epoch appeared.
    rewind: set[tuple[str, int]] = field(default_factory=set)
    #: Position moves and new aggregate versions its processing group writes (with all its
    #: members' at once).
    moves: list[PositionMove] = field(default_factory=list)
    versions: list[Versioned] = field(default_factory=list)


class UnreadableStoreError(Exception):
    """The event store holds stored types or versions this release cannot read (a newer
    release wrote them): a rebuild or verify that passed over them would be wrong."""

    def __init__(self, topics: list[str]) -> None:
        super().__init__(
            f"the event store holds events this release cannot read ({', '.join(topics)}):"
            " rebuild or verify with the release that wrote them"
        )
        self.topics = topics


class TableVersionMismatchError(Exception):
    """The live tables are at another table version than this code writes: nothing is
    applied (the records are read again later) until a rebuild installs this version."""

    def __init__(
        self, projection: str, live: int | None, wanted: int, hint: str | None = None
    ) -> None:
        super().__init__(
            f"{projection}: live tables are version {live}, this code writes version {wanted};"
            f" {hint or f'waiting for `eventshop projections rebuild {projection}`'}"
        )


def last_offset(records: Sequence[Incoming], topic: str, partition: int) -> int:
    return max(r.offset for r in records if (r.topic, r.partition) == (topic, partition))


def last_published_at(records: Sequence[Incoming], topic: str, partition: int) -> datetime | None:
    """When the relay published the partition's last record of the batch (header), if known."""
    for record in reversed(records):
        if (record.topic, record.partition) == (topic, partition):
            raw = dict(record.headers).get(H_PUBLISHED_AT)
            try:
                return datetime.fromisoformat(raw.decode()) if raw else None
            except (UnicodeDecodeError, ValueError):
                return None
    return None
