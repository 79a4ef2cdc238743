"""A development mailbox (an SMTP server keeping ``.eml`` files) for one test."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from eventshop import wiring
from reactors.mailbox import mailbox_server
from tests.support.served import free_port
from tests.support.stack import Servers, Stack, running_stack


@contextmanager
def running_mailbox(directory: Path) -> Iterator[tuple[str, Path]]:
    """``(smtp url, directory of delivered .eml files)`` while the server runs."""
    server = mailbox_server(directory, port=free_port())
    server.start()
    try:
        yield f"smtp://127.0.0.1:{server.port}", directory
    finally:
        server.stop()


@contextmanager
def intake_stack(servers: Servers) -> Iterator[Stack]:
    """A stack with its relay running and the mail intake as its only projector."""
    with running_stack(servers) as stack:
        stack.start_relay()
        stack.start_projectors(custom=wiring.MAIL_INTAKE)
        yield stack
