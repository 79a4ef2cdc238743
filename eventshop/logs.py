"""Logging for every eventshop process: one format, secrets scrubbed from every line.

uvicorn is started without its own logging config, so its error and access logs reach
the root handler too and pass through the same redaction (contracts.redaction).
"""

from __future__ import annotations

import logging

from contracts.redaction import redact

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter(FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("kafka").setLevel(logging.WARNING)
