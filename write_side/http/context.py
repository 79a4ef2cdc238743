"""Reads ``Idempotency-Key`` and ``If-Match`` into a :class:`CommandContext`."""

from __future__ import annotations

import re
from typing import Annotated

import orjson
from fastapi import Header, Request

from contracts.causation import EventMeta
from http_edge.client import verified_claims
from http_edge.correlation import request_id
from http_edge.problems import ProblemError
from http_edge.tokens import InvalidTokenError, TokenSettings
from write_side.application.shop import CommandContext
from write_side.persistence.recorder import IdempotencyKey

_IF_MATCH = re.compile(r'^"?(\d{1,9})"?$')

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Send the command again with the same key: the first result comes back.",
    ),
]
IfMatchHeader = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=32,
        description='The aggregate version you last saw, as "<version>"; stale is 412.',
    ),
]


async def command_context(
    request: Request,
    idempotency_key: IdempotencyKeyHeader = None,
    if_match: IfMatchHeader = None,
) -> CommandContext:
    return await context_of(request, idempotency_key, if_match, _scope(request))


async def context_of(
    request: Request, idempotency_key: str | None, if_match: str | None, scope: str
) -> CommandContext:
    """``scope``: who sent it (a token's subject, or ``anonymous``): idempotency keys are
    kept per sender."""
    expected_version = None
    if if_match is not None:
        match = _IF_MATCH.match(if_match.strip())
        if match is None:
            raise ProblemError(
                400, "INVALID_IF_MATCH", 'If-Match must be a version in quotes, like "3"'
            )
        expected_version = int(match.group(1))
    key = None
    if idempotency_key is not None:
        body = await request.body()
        key = IdempotencyKey(
            scope=scope,
            key=idempotency_key,
            fingerprint=IdempotencyKey.fingerprint_of(
                request.method, request.url.path, _canonical(body)
            ),
        )
    rid = request_id(request.scope)
    cause = EventMeta(correlation_id=rid, causation_id=rid, actor=scope)
    return CommandContext(idempotency=key, expected_version=expected_version, cause=cause)


def _canonical(body: bytes) -> bytes:
    """The same JSON however it is spaced or ordered; other bytes as they are."""
    try:
        return orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS)
    except orjson.JSONDecodeError:
        return body


def _scope(request: Request) -> str:
    """Keys belong to their sender: the token's subject, or everyone anonymous."""
    authorization = request.headers.get("Authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token:
        settings: TokenSettings = request.app.state.tokens
        try:
            return str(verified_claims(request, token, settings).sub)
        except InvalidTokenError:
            pass
    return "anonymous"
