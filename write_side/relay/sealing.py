"""What the relay publishes of an event stored before personal fields were sealed.

Stored bytes go out untouched, with one exception: a customer event of a schema version
that held personal fields in clear (v1) goes out as the current version, its fields sealed
under the customer's key (created now if they have none). So from this release on no
topic receives personal data in clear; destroying the key makes every copy unreadable.
An erased customer's clear events were rewritten to the placeholder: they go out as they
are, and no key is made for them.
"""

from __future__ import annotations

from uuid import UUID

import orjson

from contracts.personal import (
    ERASED,
    PERSONAL_FIELDS,
    erased_payload,
    personal_values,
    seal_event,
)
from contracts.upcasting import EVENTS_BY_NAME, decode, encode
from write_side.persistence.personal_keys import KeyRing


def published_form(
    keys: KeyRing | None, event_type: str, schema_version: int, aggregate_id: UUID, state: bytes
) -> tuple[int, bytes]:
    """``(schema_version, payload)`` to publish for this stored event."""
    current = EVENTS_BY_NAME[event_type].schema_version
    if keys is None or event_type not in PERSONAL_FIELDS or schema_version >= current:
        return schema_version, state
    event = decode(event_type, schema_version, state)
    if all(value == ERASED for value in personal_values(event).values()):
        return schema_version, state
    key = keys.ensure_key(aggregate_id)
    if key is None:  # erased since this relay read the event: what the store holds now
        return schema_version, orjson.dumps(erased_payload(orjson.loads(state), event_type))
    return current, encode(seal_event(event, aggregate_id, key))
