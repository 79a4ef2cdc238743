"""Logging for every eventshop process: one format, secrets scrubbed from every line.

uvicorn is started without its own logging config, so its error and access logs reach
the root handler too and pass through the same redaction (contracts.redaction).
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

from contracts.redaction import redact

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


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
    handler.setFormatter(RedactingFormatter(FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("kafka").setLevel(logging.WARNING)
