"""Settled mail leaves the outbox after the retention, below a watermark no owed mail is
under, and `projections verify mail` honours it
(reactors/outbox_pruning.py; docs/operations.md, "Mail"). A stack of its own: pruning
deletes every settled mail of the schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

import eventshop.operations.status as operations
from eventshop import wiring
from reactors.mailbox import mailbox_server
from reactors.outbox_pruning import pruned_through
from tests.integration.test_mail_reactor import owed, register, send_due, sender
from tests.support.served import free_port
from tests.support.stack import Servers, Stack, eventually, running_stack

DAY = 86400.0


@pytest.fixture
def stack(servers: Servers) -> Iterator[Stack]:
    with running_stack(servers) as stack:
        stack.start_relay()
        stack.start_projectors(custom=wiring.MAIL_INTAKE)
        yield stack


def states(stack: Stack) -> dict[str, str]:
    return {k: s for k, s in stack.sql("SELECT key, state FROM {rm}.mail_outbox")}


def prune_now(stack: Stack, retention: float = 30 * DAY) -> int:
    mail_sender = sender(stack, "smtp://127.0.0.1:9", retention_seconds=retention)
    with psycopg.connect(stack.settings.database_url or "") as conn:
        return mail_sender.prune_when_due(conn)


def test_settled_mail_is_pruned_after_the_retention_and_owed_mail_never(
    stack: Stack, tmp_path: Path
) -> None:
    server = mailbox_server(tmp_path / "mail", port=free_port())
    server.start()
    try:
        customers = [register(stack, name)[0] for name in ("Ada", "Bo", "Cy", "Di")]
        eventually(lambda: all(owed(stack, c) for c in customers))
        eventually(lambda: operations.verify(stack.settings, "mail").lag_events == 0)
        assert send_due(stack, sender(stack, f"smtp://127.0.0.1:{server.port}")) == 4
    finally:
        server.stop()
    first, second, *_ = customers
    # The second customer's mail is dead (the server gave up on it): owed until an
    # operator decides, so neither it nor anything after it may go.
    stack.sql("UPDATE {rm}.mail_outbox SET state = 'dead' WHERE key LIKE %s", f"%{second}%")

    assert prune_now(stack) == 0  # all younger than the retention
    stack.sql("UPDATE {rm}.mail_outbox SET created_at = now() - interval '40 days'")
    assert prune_now(stack) == 1  # the first customer's: below the dead one
    left = states(stack)
    assert not any(first in key for key in left)
    assert sorted(left.values()) == ["dead", "sent", "sent"]
    report = operations.verify(stack.settings, "mail")
    assert report.equal, report  # the pruned mail is below the watermark, not missing

    # The operator gives it up: now everything settled and old goes.
    stack.sql("UPDATE {rm}.mail_outbox SET state = 'discarded' WHERE state = 'dead'")
    assert prune_now(stack) == 3
    assert states(stack) == {}
    assert operations.verify(stack.settings, "mail").equal

    # A mail owed after the pruning is recorded, sent and verified as before.
    later, _ = register(stack, "Ed")
    eventually(lambda: owed(stack, later) == [("welcome", "pending", 0)])
    eventually(lambda: operations.verify(stack.settings, "mail").lag_events == 0)
    assert operations.verify(stack.settings, "mail").equal
    with psycopg.connect(stack.settings.database_url or "") as conn:
        assert pruned_through(conn, stack.settings.read_schema) > 0
