"""Pagination cursors: signed by the server, then type-checked against their query.

A cursor is the last row's sort key and id. It is signed (:mod:`contracts.signing`,
key purpose ``cursor``), so a crafted or altered cursor is refused before any SQL runs;
each query still checks every element's type against its sort, so even a cursor signed
by a release with other sorts can only be refused, never reach the database as a
comparison of mismatched types.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import orjson

from contracts.signing import BadSignatureError, derive_key, sign, unsign

CURSOR_KEY_PURPOSE = "cursor"
_BIGINT = 2**63


class InvalidCursorError(ValueError):
    """A pagination cursor we did not issue, or one for another query."""


class CursorCodec:
    def __init__(self, secret: str) -> None:
        self._key = derive_key(secret, CURSOR_KEY_PURPOSE)

    def encode(self, values: list[Any]) -> str:
        return sign(orjson.dumps(values, default=str), self._key)

    def decode(self, cursor: str, length: int) -> list[Any]:
        """The signed list, which must have ``length`` elements."""
        try:
            values = orjson.loads(unsign(cursor, self._key))
        except (BadSignatureError, orjson.JSONDecodeError) as error:
            raise InvalidCursorError("invalid cursor") from error
        if not isinstance(values, list) or len(values) != length:
            raise InvalidCursorError("invalid cursor")
        return values


def as_uuid(value: Any) -> UUID:
    if not isinstance(value, str):
        raise InvalidCursorError("invalid cursor")
    try:
        return UUID(value)
    except ValueError as error:
        raise InvalidCursorError("invalid cursor") from error


def as_int(value: Any) -> int:
    if type(value) is not int or not -_BIGINT <= value < _BIGINT:
        raise InvalidCursorError("invalid cursor")
    return value


def as_number(value: Any) -> float:
    if type(value) not in {int, float}:
        raise InvalidCursorError("invalid cursor")
    return float(value)


def as_text(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidCursorError("invalid cursor")
    return value
