"""How the write side's background loops (order expiry, payment sweeper) ride out an outage.

A database that is down or restarting is not a defect: one warning line per failed round
and a doubling pause (capped), instead of a traceback twice a second. Anything else is
logged with its traceback; either way the loop goes on (docs/operations.md, "Failure
modes").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError

OUTAGES = (psycopg.OperationalError, psycopg.InterfaceError, OperationalError, InterfaceError)


@dataclass
class Backoff:
    """The pause after a failed round: ``first`` after a success, doubling to ``cap``."""

    first: float
    cap: float = 5.0
    current: float = 0.0

    def succeeded(self) -> float:
        self.current = self.first
        return self.first

    def failed(self, name: str, error: Exception, log: logging.Logger) -> float:
        self.current = min(max(self.current, self.first) * 2, self.cap)
        if isinstance(error, OUTAGES):
            log.warning(
                "%s: database unavailable (%s: %s); retrying in %.1fs",
                name,
                type(error).__name__,
                str(error).splitlines()[0] if str(error) else "",
                self.current,
            )
        else:
            log.exception("%s: round failed; retrying in %.1fs", name, self.current)
        return self.current
