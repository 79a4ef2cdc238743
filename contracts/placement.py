"""Where a stored event goes on Kafka: its topic and partition, in one function.

The relay publishes there, a command's consistency token names it, and a rebuild or
verify reads the store as if it had come from there; all three ask :func:`place`, so
they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from uuid import UUID

from contracts.events import ContractEvent
from contracts.topics import partition_for, topic_for
from contracts.upcasting import EVENTS_BY_NAME, UnknownEventTypeError, parse_topic


@dataclass(frozen=True)
class Placement:
    topic: str
    partition: int
    event_type: str
    schema_version: int


def place(
    stored_topic: str,
    aggregate_id: UUID | str,
    prefix: str = "",
    known: Mapping[str, type[ContractEvent]] = EVENTS_BY_NAME,
) -> Placement | None:
    """``stored_topic`` is the event store's ``<Type>.v<N>``. None for internal events
    (claims, credentials, payments: never published); raises for unknown types."""
    event_type, schema_version = parse_topic(stored_topic)
    contract = known.get(event_type)
    if contract is None:
        raise UnknownEventTypeError(event_type)
    topic = topic_for(contract, prefix)
    if topic is None:
        return None
    return Placement(topic, partition_for(aggregate_id), event_type, schema_version)
