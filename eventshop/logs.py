"""Logging for every eventshop process: one JSON object per line, secrets scrubbed.

Every line has ``timestamp`` (RFC 3339, UTC), ``level``, ``logger`` and ``event`` (the
message), plus whatever ids are bound to the moment (``request_id``, ``correlation_id``:
:mod:`http_edge.correlation` binds them for a request's lifetime). On a terminal the same
fields are rendered for people instead.

Why structlog's ``ProcessorFormatter`` on the stdlib root handler, rather than a JSON
formatter of our own: everything we run (uvicorn and its access log, kafka-python,
eventsourcing, aiosmtpd, our modules) logs through the standard library, so one formatter
there gives them all one form; structlog adds the context-variable binding that carries a
request's ids into every line logged while serving it, and the JSON and console renderers.
uvicorn is started without its own logging config, so its lines take this path too.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import orjson
import structlog
from structlog.typing import EventDict, Processor

from contracts.redaction import redact


def redact_values(_: Any, __: str, event: EventDict) -> EventDict:
    """Scrub every text value (the message and any bound field) of secrets."""
    for key, value in event.items():
        if isinstance(value, str):
            event[key] = redact(value)
    return event


def _json(event: EventDict, **_: Any) -> str:
    return orjson.dumps(event, default=str).decode()


def formatter(*, for_terminal: bool) -> structlog.stdlib.ProcessorFormatter:
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),  # ``log.info(…, extra={"correlation_id": …})``
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_values,
    ]
    renderer: Processor = (
        structlog.dev.ConsoleRenderer(colors=False)
        if for_terminal
        else structlog.processors.JSONRenderer(serializer=_json)
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )


class CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a line is logged, not when logging was
    configured: a CLI command run in-process (a test's CliRunner) swaps stderr for a
    buffer it closes afterwards, and later lines must not go there."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


def configure(level: str) -> None:
    handler = CurrentStderr()
    handler.setFormatter(formatter(for_terminal=sys.stderr.isatty()))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("kafka").setLevel(logging.WARNING)
    # aiosmtpd (the development mailbox) tells of every connection at INFO: four lines a mail.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
