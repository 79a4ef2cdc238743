"""The development mailbox: a real SMTP server (aiosmtpd) that keeps each message it
receives as an ``.eml`` file, for `eventshop run` and the tests; `eventshop mail list`
reads them back."""

from __future__ import annotations

import email
import email.policy
import itertools
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class _Keep:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._count = itertools.count()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 (aiosmtpd's hook name)
        self.directory.mkdir(parents=True, exist_ok=True)
        # Names sort in arrival order: UTC time to the microsecond, then a counter.
        stamp = f"{datetime.now(UTC):%Y%m%dT%H%M%S.%f}-{next(self._count):06d}"
        name = f"{stamp}-{uuid.uuid4().hex[:6]}.eml"
        partial = self.directory / f".{name}.part"
        content = envelope.original_content or b""
        partial.write_bytes(content if isinstance(content, bytes) else content.encode())
        os.replace(partial, self.directory / name)  # whole files only, never half a mail
        return "250 Message accepted for delivery"


def mailbox_server(directory: Path, host: str = "127.0.0.1", port: int = 0) -> Controller:
    """A started-on-demand SMTP server writing into ``directory`` (``.start()``, ``.stop()``)."""
    return Controller(_Keep(directory), hostname=host, port=port)


@dataclass(frozen=True)
class Stored:
    path: Path
    date: str
    to: str
    subject: str
    message_id: str

    def as_json(self) -> dict[str, Any]:
        return {
            "file": self.path.name,
            "date": self.date,
            "to": self.to,
            "subject": self.subject,
            "message_id": self.message_id,
        }


def stored(directory: Path) -> list[Stored]:
    """The messages in ``directory``, oldest first."""
    found = []
    for path in sorted(directory.glob("*.eml")) if directory.is_dir() else []:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        found.append(
            Stored(
                path,
                str(message.get("Date", "")),
                str(message.get("To", "")),
                str(message.get("Subject", "")),
                str(message.get("Message-ID", "")),
            )
        )
    return found
