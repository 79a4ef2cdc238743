"""The process's NOTIFY listener (it sleeps in select() between notifications and checks its
connection when the socket has been quiet): every piece of news moves the generation and
reaches the subscribers at once."""

from __future__ import annotations

import threading
import uuid

import psycopg

from projections.live.wakeups import Wakeups
from tests.support.stack import Servers


def test_each_notification_reaches_waiters_and_subscribers_between_keepalives(
    servers: Servers,
) -> None:
    channel = f"test_{uuid.uuid4().hex[:12]}"
    wakeups = Wakeups(servers.database_url, (channel,))
    told = threading.Event()
    wakeups.subscribe(told.set)
    wakeups.keepalive_seconds = 0.05  # the keepalive runs between the notifications
    assert wakeups.wait(0, timeout=10) != 0  # listening
    with psycopg.connect(servers.database_url, autocommit=True) as sender:
        for _ in range(50):
            seen = wakeups.generation
            told.clear()
            sender.execute(f"NOTIFY {channel}")
            assert wakeups.wait(seen, timeout=5) != seen
            assert told.wait(5)


def test_a_listener_for_one_schema_lets_another_schemas_news_pass(servers: Servers) -> None:
    """The projectors' NOTIFY names the read schema whose positions moved; several shops
    (or a test session's schemas) share a database, and another's batch is not our news."""
    channel = f"test_{uuid.uuid4().hex[:12]}"
    mine = Wakeups(servers.database_url, (channel,), about="rm_mine")
    assert mine.wait(0, timeout=10) != 0  # listening
    with psycopg.connect(servers.database_url, autocommit=True) as sender:
        seen = mine.generation
        for _ in range(20):
            sender.execute("SELECT pg_notify(%s, %s)", (channel, "rm_theirs"))
        assert mine.wait(seen, timeout=1.0) == seen  # not our news: still asleep
        sender.execute("SELECT pg_notify(%s, %s)", (channel, "rm_mine"))
        assert mine.wait(seen, timeout=5) != seen
        seen = mine.generation
        sender.execute(f"NOTIFY {channel}")  # no payload: news for every listener
        assert mine.wait(seen, timeout=5) != seen
