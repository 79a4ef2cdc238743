"""The message envelope: what travels beside a payload, as Kafka key and headers.

The value of a Kafka record is the stored payload, byte for byte; everything a consumer
needs to order, deduplicate and decode it is in the headers below.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from contracts.upcasting import UndecodableEventError

H_NOTIFICATION_ID = "notification_id"
H_AGGREGATE_ID = "aggregate_id"
H_AGGREGATE_VERSION = "aggregate_version"
H_EVENT_TYPE = "event_type"
H_SCHEMA_VERSION = "schema_version"
H_PUBLISHED_AT = "published_at"
H_RELAY_EPOCH = "relay_epoch"
#: From the event's ``meta`` (contracts.causation), when it has one.
H_CORRELATION_ID = "correlation_id"
H_CAUSATION_ID = "causation_id"
H_ACTOR = "actor"

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True)
class Envelope:
    notification_id: int
    aggregate_id: UUID
    aggregate_version: int
    event_type: str
    schema_version: int
    payload: bytes
    #: Incremented each time the relay republishes the whole log after the broker lost
    #: data. A consumer seeing a newer epoch must reread the partition from its start:
    #: its offset belongs to the lost incarnation (see ``projections.live.applier``).
    relay_epoch: int = 0
    #: The request that started the chain this event belongs to ("": not known).
    correlation_id: str = ""
    causation_id: str = ""
    actor: str = ""

    def headers(self, published_at: datetime) -> Headers:
        found = [
            (name, value.encode())
            for name, value in (
                (H_CORRELATION_ID, self.correlation_id),
                (H_CAUSATION_ID, self.causation_id),
                (H_ACTOR, self.actor),
            )
            if value
        ]
        return [
            *found,
            (H_NOTIFICATION_ID, str(self.notification_id).encode()),
            (H_AGGREGATE_ID, str(self.aggregate_id).encode()),
            (H_AGGREGATE_VERSION, str(self.aggregate_version).encode()),
            (H_EVENT_TYPE, self.event_type.encode()),
            (H_SCHEMA_VERSION, str(self.schema_version).encode()),
            (H_PUBLISHED_AT, published_at.isoformat().encode()),
            (H_RELAY_EPOCH, str(self.relay_epoch).encode()),
        ]

    @classmethod
    def from_record(cls, headers: Headers | None, value: bytes | None) -> Envelope:
        """Read an envelope back from a Kafka record; malformed headers raise."""
        found = dict(headers or [])
        try:
            return cls(
                notification_id=int(found[H_NOTIFICATION_ID]),
                aggregate_id=UUID(found[H_AGGREGATE_ID].decode()),
                aggregate_version=int(found[H_AGGREGATE_VERSION]),
                event_type=found[H_EVENT_TYPE].decode(),
                schema_version=int(found[H_SCHEMA_VERSION]),
                payload=value or b"",
                relay_epoch=int(found.get(H_RELAY_EPOCH, b"0")),
                correlation_id=found.get(H_CORRELATION_ID, b"").decode(),
                causation_id=found.get(H_CAUSATION_ID, b"").decode(),
                actor=found.get(H_ACTOR, b"").decode(),
            )
        except (KeyError, ValueError, UnicodeDecodeError, AttributeError) as error:
            raise UndecodableEventError(f"bad envelope headers: {error!r}") from error
