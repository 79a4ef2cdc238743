"""The consistency token a command returns and a query may wait for (docs/architecture.md,
guarantee 7).

A token lists, for each Kafka (topic, partition) the command's events were published
to, the highest event-store ``notification_id`` among them. A read model reflects the
command once, for every listed partition of a topic it consumes, its tracked position
for that partition is at least the listed id. The relay publishes in notification order
and keys by aggregate id, so within one partition positions only grow.

Each mark also names the aggregates the command wrote on that partition (by a short tag,
the first 8 hex digits of the id), so an event of *another* aggregate parked there (behind
a dead letter, say) does not hold this token back; a mark without tags is held back by
any parked event at or below it (conservative).

Wire format: ``v2.`` + base64url(JSON ``[[topic, partition, notification_id, [tag…]], …]``)
+ ``.`` + base64url(HMAC tag), without padding (:mod:`contracts.signing`, key purpose
``consistency-token``). Opaque to clients; a forged or altered token fails the tag check
and is refused, so a client cannot make a query wait on a position it invented.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from contracts.signing import BadSignatureError, derive_key, sign, unsign

_PREFIX = "v2."
_MAX_LENGTH = 4096
#: The key purpose: a token's key differs from a cursor's even with one server secret.
TOKEN_KEY_PURPOSE = "consistency-token"  # noqa: S105 (a label, not a secret)


class InvalidConsistencyTokenError(ValueError):
    """The client sent something that is not a token we issued."""


@dataclass(frozen=True, order=True)
class PartitionMark:
    topic: str
    partition: int
    notification_id: int
    #: Tags (:func:`aggregate_tag`) of the aggregates written there; empty: unknown.
    aggregates: tuple[str, ...] = ()


def aggregate_tag(aggregate_id: object) -> str:
    """A short, stable tag of an aggregate id (collisions only make a token wait longer)."""
    return str(aggregate_id).replace("-", "")[:8]


def token_key(secret: str) -> bytes:
    return derive_key(secret, TOKEN_KEY_PURPOSE)


def encode_token(marks: list[PartitionMark], key: bytes) -> str:
    merged: dict[tuple[str, int], int] = {}
    tags: dict[tuple[str, int], set[str]] = {}
    for mark in marks:
        where = (mark.topic, mark.partition)
        merged[where] = max(merged.get(where, 0), mark.notification_id)
        tags.setdefault(where, set()).update(mark.aggregates)
    body = orjson.dumps([[t, p, n, sorted(tags[(t, p)])] for (t, p), n in sorted(merged.items())])
    return _PREFIX + sign(body, key)


def decode_token(token: str, key: bytes) -> list[PartitionMark]:
    if len(token) > _MAX_LENGTH or not token.startswith(_PREFIX):
        raise InvalidConsistencyTokenError("unrecognised consistency token")
    try:
        raw = orjson.loads(unsign(token[len(_PREFIX) :], key))
    except BadSignatureError as error:
        raise InvalidConsistencyTokenError("consistency token not issued by this server") from error
    except orjson.JSONDecodeError as error:
        raise InvalidConsistencyTokenError("malformed consistency token") from error
    if not isinstance(raw, list) or not all(_is_mark(item) for item in raw):
        raise InvalidConsistencyTokenError("malformed consistency token")
    return [PartitionMark(m[0], m[1], m[2], tuple(m[3]) if len(m) == 4 else ()) for m in raw]


def _is_mark(item: object) -> bool:
    if not isinstance(item, list) or len(item) not in {3, 4}:
        return False
    topic, partition, notification_id = item[:3]
    tags = item[3] if len(item) == 4 else []
    return (
        isinstance(topic, str)
        and type(partition) is int
        and type(notification_id) is int
        and partition >= 0
        and notification_id >= 1
        and isinstance(tags, list)
        and all(isinstance(tag, str) for tag in tags)
    )
