"""Who and what caused an event: correlation, causation and actor, stored with it.

Every stored event may carry ``meta`` (an optional, additive contract field):

- ``correlation_id``: the request that started the chain — the ``X-Request-ID`` a client
  sent (or the server made), passed on unchanged to everything that follows from it;
- ``causation_id``: what caused this event directly — the request, for a command; the
  event (``<aggregate id>.<version>``, :func:`event_id`) for what a process manager or a
  reactor did in answer to one;
- ``actor``: the token subject that sent the command, or ``process:<name>``;
- ``command``: the use case that wrote it.

The relay carries them as Kafka headers (``contracts.envelope``), so a plain consumer can
read them; ``eventshop events trace ID`` prints a chain (docs/operations.md, "Following
one request").

The write side sets :data:`CAUSE` around each use case; its event mapper stamps what it
finds there onto the events it stores.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from uuid import UUID

import orjson
from pydantic import BaseModel, ConfigDict


class EventMeta(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    correlation_id: str
    causation_id: str
    actor: str = ""
    command: str = ""


#: The cause of whatever events the current use case stores (None: none known).
CAUSE: ContextVar[EventMeta | None] = ContextVar("eventshop_cause", default=None)


@contextlib.contextmanager
def caused_by(meta: EventMeta | None) -> Iterator[None]:
    """Within the block, stored events carry ``meta``."""
    reset = CAUSE.set(meta)
    try:
        yield
    finally:
        CAUSE.reset(reset)


def event_id(aggregate_id: UUID | str, version: int) -> str:
    """An event's id in causation chains: stable however often it is republished."""
    return f"{aggregate_id}.{version}"


def meta_of(payload: bytes) -> EventMeta | None:
    """The ``meta`` of a stored payload, if it has one (never raises)."""
    if b'"meta"' not in payload:
        return None
    try:
        found = orjson.loads(payload).get("meta")
        return EventMeta.model_validate(found) if isinstance(found, dict) else None
    except (orjson.JSONDecodeError, AttributeError, ValueError):
        return None
