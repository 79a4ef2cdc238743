"""The consistency token a command returns and a query may wait for (DESIGN.md §4.7).

A token lists, for each Kafka (topic, partition) the command's events were published
to, the highest event-store ``notification_id`` among them. A read model reflects the
command once, for every listed partition of a topic it consumes, its tracked position
for that partition is at least the listed id. The relay publishes in notification order
and keys by aggregate id, so within one partition positions only grow.

Wire format: ``v1.`` + base64url(JSON ``[[topic, partition, notification_id], ...]``),
without padding. Opaque to clients; stable for the server.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

import orjson

_PREFIX = "v1."
_MAX_LENGTH = 4096


class InvalidConsistencyTokenError(ValueError):
    """The client sent something that is not a token we issued."""


@dataclass(frozen=True, order=True)
class PartitionMark:
    topic: str
    partition: int
    notification_id: int


def encode_token(marks: list[PartitionMark]) -> str:
    merged: dict[tuple[str, int], int] = {}
    for mark in marks:
        key = (mark.topic, mark.partition)
        merged[key] = max(merged.get(key, 0), mark.notification_id)
    body = orjson.dumps([[t, p, n] for (t, p), n in sorted(merged.items())])
    return _PREFIX + base64.urlsafe_b64encode(body).rstrip(b"=").decode()


def decode_token(token: str) -> list[PartitionMark]:
    if len(token) > _MAX_LENGTH or not token.startswith(_PREFIX):
        raise InvalidConsistencyTokenError("unrecognised consistency token")
    body = token[len(_PREFIX) :]
    try:
        raw = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (binascii.Error, orjson.JSONDecodeError, ValueError) as error:
        raise InvalidConsistencyTokenError("malformed consistency token") from error
    if not isinstance(raw, list) or not all(_is_mark(item) for item in raw):
        raise InvalidConsistencyTokenError("malformed consistency token")
    return [PartitionMark(t, p, n) for t, p, n in raw]


def _is_mark(item: object) -> bool:
    if not isinstance(item, list) or len(item) != 3:
        return False
    topic, partition, notification_id = item
    return (
        isinstance(topic, str)
        and type(partition) is int
        and type(notification_id) is int
        and partition >= 0
        and notification_id >= 1
    )
