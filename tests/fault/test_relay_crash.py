"""Kill a real relay process at each named crash point: nothing is lost (guarantee 1).

``relay.before_publish`` (events read, nothing sent), ``relay.futures_pending`` (sent,
not yet acknowledged), ``relay.after_publish`` (acknowledged, checkpoint not saved). A
new relay starts from the last checkpoint; anything published twice is dropped by the
projector as a duplicate and counted.
"""

from __future__ import annotations

import signal
import time
from uuid import uuid4

import psycopg
import pytest

from contracts.bookkeeping import PUBLISHED_CHANNEL
from contracts.faults import CRASH_EXIT_CODE
from tests.support.stack import Servers, eventually, running_stack
from write_side.relay.checkpoint import (
    Checkpoint,
    LeadershipLostError,
    save_checkpoint,
    take_leadership,
)

TOKEN = "X-Consistency-Token"


@pytest.mark.parametrize(
    "point", ["relay.before_publish", "relay.futures_pending", "relay.after_publish"]
)
def test_a_relay_killed_at_a_crash_point_loses_nothing(servers: Servers, point: str) -> None:
    with running_stack(servers) as stack:
        product = stack.admin.post(
            "/products", json={"sku": f"C-{uuid4().hex[:8]}", "title": "Crash", "price": 9}
        ).json()["id"]
        for delta in (5, 7, -2):
            last = stack.admin.post(f"/products/{product}/stock", json={"delta": delta})
        crashing = stack.child("relay", EVENTSHOP_CRASH_AT=point, EVENTSHOP_RELAY_PROBE_PORT="0")
        assert crashing.wait(timeout=60) == CRASH_EXIT_CODE
        checkpoint = stack.sql("SELECT notification_id FROM {es}.relay_checkpoint")[0][0]
        assert checkpoint == 0, "it died before saving a checkpoint"

        stack.start_projectors("products")
        stack.start_relay()
        read = stack.admin_queries.get(f"/products/{product}", headers={TOKEN: last.headers[TOKEN]})
        assert read.status_code == 200, read.text
        assert read.json()["on_hand"] == 10
        counts = stack.positions("products")
        assert counts["applied"] == 4
        if point == "relay.after_publish":
            # Everything was on the broker twice: each copy after the first is dropped.
            eventually(lambda: stack.positions("products")["duplicates"] >= 4)
        assert stack.positions("products")["applied"] == 4


#: How long a standby may take to publish after the leader was SIGKILLed: PostgreSQL ends
#: the dead session at once (its socket closed), the standby polls the lock every second,
#: then connects a producer and checks the broker (docs/operations.md, "Failure modes").
TAKEOVER_BOUND_SECONDS = 5.0


def test_a_standby_takes_over_a_sigkilled_leader_within_the_bound(servers: Servers) -> None:
    with running_stack(servers) as stack:
        leader = stack.child("relay", EVENTSHOP_RELAY_PROBE_PORT="0")

        def epoch() -> int:
            return int(stack.sql("SELECT leader_epoch FROM {es}.relay_checkpoint")[0][0])

        def checkpoint() -> int:
            return int(stack.sql("SELECT notification_id FROM {es}.relay_checkpoint")[0][0])

        product = stack.admin.post(
            "/products", json={"sku": f"T-{uuid4().hex[:8]}", "title": "Take", "price": 9}
        ).json()["id"]
        eventually(lambda: checkpoint() > 0 and epoch() == 1)
        standby = stack.child("relay", EVENTSHOP_RELAY_PROBE_PORT="0")
        try:
            time.sleep(1.5)  # the standby is up and polling the lock
            assert epoch() == 1, "the standby must wait while the leader lives"
            leader.send_signal(signal.SIGKILL)
            leader.wait(timeout=10)
            killed = time.monotonic()
            stack.admin.post(f"/products/{product}/stock", json={"delta": 3})
            newest = int(stack.sql("SELECT max(notification_id) FROM {es}.shop_events")[0][0])
            eventually(lambda: checkpoint() >= newest, timeout=30)
            took = time.monotonic() - killed
            assert took < TAKEOVER_BOUND_SECONDS, took
            assert epoch() == 2  # one takeover: one leader at a time, epochs in order
        finally:
            standby.terminate()
            standby.wait(timeout=30)


def test_a_relay_whose_epoch_was_taken_cannot_move_the_checkpoint(servers: Servers) -> None:
    with running_stack(servers) as stack, psycopg.connect(stack.settings.database_url or "") as c:
        c.autocommit = True
        first = take_leadership(c, stack.settings.event_schema)
        second = take_leadership(c, stack.settings.event_schema)  # a newer leader
        listener = psycopg.connect(stack.settings.database_url or "", autocommit=True)
        listener.execute(f"LISTEN {PUBLISHED_CHANNEL}")
        with pytest.raises(LeadershipLostError):
            save_checkpoint(c, stack.settings.event_schema, Checkpoint(99), first)
        assert stack.sql("SELECT notification_id FROM {es}.relay_checkpoint") == [(0,)]
        assert list(listener.notifies(timeout=0.5)) == [], "a refused save wakes nobody"
        save_checkpoint(c, stack.settings.event_schema, Checkpoint(7), second)
        assert stack.sql("SELECT notification_id FROM {es}.relay_checkpoint") == [(7,)]
        woken = list(listener.notifies(timeout=2, stop_after=1))
        assert [n.channel for n in woken] == [PUBLISHED_CHANNEL], "the projectors' wake-up"
        listener.close()
