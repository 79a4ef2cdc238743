"""A group that has read what the broker had fetches again on the relay's news for one of its
own partitions, not on a timer and not on news for others (docs/operations.md, "Idle"):
Tansu holds every fetch its whole wait, so a group that kept a fetch waiting there paid for
each empty one and left each new record waiting for it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from contracts.bookkeeping import PUBLISHED_CHANNEL
from eventshop import wiring
from projections.live import consumer as consumer_module
from projections.live.consumer import KafkaProjector
from tests.integration.test_mail_reactor import register
from tests.support.stack import Servers, Stack, eventually, running_stack


class Counted:
    """The projector's consumer, with its polls and the records they returned counted."""

    def __init__(self, projector: KafkaProjector) -> None:
        self.polls = self.records = 0
        new_consumer = projector._new_consumer

        def counted() -> Any:
            consumer = new_consumer()
            poll = consumer.poll

            def counting(*args: Any, **kwargs: Any) -> Any:
                polled = poll(*args, **kwargs)
                self.polls += 1
                self.records += sum(map(len, polled.values()))
                return polled

            consumer.poll = counting
            return consumer

        projector._new_consumer = counted  # type: ignore[method-assign]


@pytest.fixture
def stack(servers: Servers) -> Iterator[Stack]:
    with running_stack(servers) as stack:
        stack.start_relay()
        yield stack


@contextmanager
def _running(stack: Stack) -> Iterator[tuple[KafkaProjector, Counted]]:
    projector = wiring.projector(stack.settings, wiring.MAIL_INTAKE)
    counted = Counted(projector)
    stop = threading.Event()
    thread = threading.Thread(target=projector.run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert projector.assigned.wait(30)
        yield projector, counted
    finally:
        stop.set()
        thread.join(timeout=15)


def test_news_for_another_groups_partitions_does_not_make_a_caught_up_group_fetch(
    stack: Stack,
) -> None:
    with _running(stack) as (projector, counted):
        register(stack, "Early")  # something to read, then nothing
        eventually(lambda: counted.records > 0)
        time.sleep(consumer_module.IDLE_AFTER_SECONDS + 0.5)  # caught up, and idle
        before = counted.polls
        with psycopg.connect(stack.settings.database_url or "", autocommit=True) as conn:
            for n in range(40):  # another shop's relay, busy: its topics, not ours
                conn.execute("SELECT pg_notify(%s, %s)", (PUBLISHED_CHANNEL, f"theirs.t:{n % 3}"))
                time.sleep(0.025)
        # Woken by each (the old loop fetched on any news): about one poll a notification.
        # Now: at most the safety poll, every SAFETY_POLL_SECONDS.
        assert counted.polls - before <= 2, f"{counted.polls - before} polls on others' news"
        assert projector.wakeups.generation > 0


def test_the_relays_news_for_its_partition_wakes_a_group_with_no_timer_left(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No safety poll and no short wait within the test: only the relay's news can wake it.
    monkeypatch.setattr(consumer_module, "NEWS_WAIT_SECONDS", 120.0)
    monkeypatch.setattr(consumer_module, "SAFETY_POLL_SECONDS", 120.0)
    with _running(stack) as (_, counted):
        register(stack, "First")
        eventually(lambda: counted.records > 0)
        time.sleep(consumer_module.IDLE_AFTER_SECONDS + 0.5)
        read = counted.records
        register(stack, "Second")  # the relay publishes it and names the partition
        eventually(lambda: counted.records > read, timeout=20)
