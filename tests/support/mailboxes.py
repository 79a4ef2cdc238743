"""A development mailbox (an SMTP server keeping ``.eml`` files) for one test."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from reactors.mailbox import mailbox_server
from tests.support.served import free_port


@contextmanager
def running_mailbox(directory: Path) -> Iterator[tuple[str, Path]]:
    """``(smtp url, directory of delivered .eml files)`` while the server runs."""
    server = mailbox_server(directory, port=free_port())
    server.start()
    try:
        yield f"smtp://127.0.0.1:{server.port}", directory
    finally:
        server.stop()
