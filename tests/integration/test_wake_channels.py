"""Each idle loop listens to the one channel that announces its work (docs/operations.md,
"Idle"): every NOTIFY wakes every process listening to it, so a channel a loop does not need
costs that process a wake-up per command. The mail sender's news is a projector's batch
commit (the intake's outbox rows commit with it), not each event the store records."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from contracts.bookkeeping import EVENTS_CHANNEL, POSITIONS_CHANNEL, PUBLISHED_CHANNEL
from contracts.signals import Signal
from eventshop import wiring
from projections.live.wakeups import Wakeups
from tests.integration.test_mail_reactor import mails_to, register
from tests.support.mailboxes import intake_stack, running_mailbox
from tests.support.stack import Servers, Stack, eventually


@pytest.fixture(scope="module")
def stack(servers: Servers) -> Iterator[Stack]:
    with intake_stack(servers) as stack:
        yield stack


def test_each_loop_listens_only_to_the_news_of_its_work(stack: Stack) -> None:
    settings = stack.settings.model_copy(update={"smtp_url": "smtp://127.0.0.1:1"})
    consumer = wiring.projector(settings, wiring.MAIL_INTAKE)
    assert consumer.wakeups.channels == (PUBLISHED_CHANNEL,)  # records on the broker
    mail, expiry = wiring.mail_sender(settings).news, wiring.order_expiry(settings).news
    assert isinstance(mail, Wakeups) and mail.channels == (POSITIONS_CHANNEL,)  # batches
    assert mail.about == settings.read_schema  # of its own shop's read models
    assert isinstance(expiry, Wakeups) and expiry.channels == (EVENTS_CHANNEL,)  # new orders


def test_an_asleep_sender_is_woken_by_the_intakes_batch_not_by_each_event(
    stack: Stack, tmp_path: Path
) -> None:
    with running_mailbox(tmp_path / "mail") as (url, directory):
        sender = wiring.mail_sender(stack.settings.model_copy(update={"smtp_url": url}))
        sender.idle_poll_seconds = 120.0  # no safety poll within the test: only news wakes it
        news = sender.news
        assert news is not None
        stop = threading.Event()
        running = threading.Thread(target=sender.run, args=(stop,), daemon=True)
        running.start()
        try:
            eventually(lambda: news.generation > 0)  # listening
            db, schema = stack.settings.database_url or "", stack.settings.read_schema
            with psycopg.connect(db, autocommit=True) as conn:
                seen = _quiet_after_events_notify(db, conn, news, schema)
                assert news.generation == seen, "woken by the event store's NOTIFY"
                conn.execute(f"NOTIFY {POSITIONS_CHANNEL}")  # what each batch sends
            eventually(lambda: news.generation > seen, timeout=5)
            _, address = register(stack, "Sleepy")
            eventually(lambda: mails_to(directory, address), timeout=30)
        finally:
            stop.set()
            running.join(timeout=10)


def _quiet_after_events_notify(
    db: str, conn: psycopg.Connection[Any], news: Signal, schema: str
) -> int:
    """NOTIFY the event store's channel and wait half a second, until a window passes in
    which the stack's own projector committed no batch (its first one, of the admin's
    registration, may land any time after it joined its group: a real wake-up); the
    generation seen before the window that was quiet."""
    with psycopg.connect(db, autocommit=True) as spy:  # conn.info.dsn has no password
        spy.execute(f"LISTEN {POSITIONS_CHANNEL}")
        for _ in range(20):
            list(spy.notifies(timeout=0.1))  # what came before this window
            seen = news.generation
            conn.execute(f"NOTIFY {EVENTS_CHANNEL}")  # what each insert sends
            time.sleep(0.5)
            if not [n for n in spy.notifies(timeout=0.1) if n.payload == schema]:
                return seen
    raise AssertionError("the stack's projector committed a batch in every window")
