"""Kill the projector between its read-model commit and its Kafka offset commit.

The group's offsets were not committed; the positions committed with the rows say what was
applied, and the restarted projector resumes there (or, redelivered, drops the records by
them), so nothing is applied twice (docs/architecture.md, guarantees 1 to 3).
"""

from __future__ import annotations

from uuid import uuid4

from contracts.faults import CRASH_EXIT_CODE
from tests.support.stack import Servers, eventually, running_stack


def test_a_crash_after_the_db_commit_applies_nothing_twice(servers: Servers) -> None:
    with running_stack(servers) as stack:
        product_id = stack.admin.post(
            "/products", json={"sku": f"K-{uuid4().hex[:8]}", "title": "Kettle", "price": 3000}
        ).json()["id"]
        for delta in (5, 7, -2):
            assert (
                stack.admin.post(f"/products/{product_id}/stock", json={"delta": delta}).status_code
                == 200
            )
        relay = stack.start_relay()
        eventually(lambda: relay.stats.published >= 4)

        crashing = stack.child(
            "project", "-p", "products", EVENTSHOP_CRASH_AT="projector.after_db_commit"
        )
        assert crashing.wait(timeout=60) == CRASH_EXIT_CODE

        def on_hand() -> int | None:
            rows = stack.sql("SELECT on_hand FROM {rm}.products WHERE id = %s", product_id)
            return rows[0][0] if rows else None

        assert on_hand() == 10, "the batch was committed before the crash"
        assert stack.positions("products")["duplicates"] == 0

        # A fresh projector in the same consumer group finds the offsets uncommitted, and
        # resumes where the position committed with the rows says instead.
        stack.start_projectors("products")
        stack.admin.post(f"/products/{product_id}/stock", json={"delta": 1})
        eventually(lambda: on_hand() == 11)
        assert stack.positions("products")["applied"] == 5
        assert stack.positions("products")["duplicates"] == 0  # not even read again
