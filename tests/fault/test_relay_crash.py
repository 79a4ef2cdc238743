"""Kill a real relay process at each named crash point: nothing is lost (guarantee 1).

``relay.before_publish`` (events read, nothing sent), ``relay.futures_pending`` (sent,
not yet acknowledged), ``relay.after_publish`` (acknowledged, checkpoint not saved). A
new relay starts from the last checkpoint; anything published twice is dropped by the
projector as a duplicate and counted.
"""

from __future__ import annotations

from uuid import uuid4

import pytest

from contracts.faults import CRASH_EXIT_CODE
from tests.support.stack import Servers, eventually, running_stack

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
