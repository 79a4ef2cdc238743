"""Kill a processing group's projector after its first member applied a batch, before the
second did: the group's batch is one transaction (each member in a savepoint), so nothing
of it is committed, and the restarted group applies it once to every member
(docs/operations.md, "Processing groups")."""

from __future__ import annotations

from uuid import uuid4

from contracts.faults import CRASH_EXIT_CODE
from tests.support.stack import Servers, eventually, running_stack


def test_a_crash_between_members_commits_nothing_of_the_batch(servers: Servers) -> None:
    with running_stack(servers) as stack:
        created = stack.admin.post(
            "/products", json={"sku": f"GA-{uuid4().hex[:8]}", "title": "Vase", "price": 700}
        )
        assert created.status_code == 201, created.text
        relay = stack.start_relay()
        eventually(lambda: relay.stats.published >= 1)

        # products and orders share the catalog topic: one consumer, products first.
        crashing = stack.child(
            "project",
            "-p",
            "products",
            "-p",
            "orders",
            EVENTSHOP_CRASH_AT="projector.member_applied",
        )
        assert crashing.wait(timeout=60) == CRASH_EXIT_CODE
        assert stack.positions("products")["applied"] == 0, "products committed alone"
        assert stack.positions("orders")["applied"] == 0

        stack.start_projectors("products", "orders")
        eventually(lambda: stack.positions("products")["applied"] == 1)
        # orders also reads the customers topic (the admin registered): at least the product.
        eventually(lambda: stack.positions("orders")["applied"] >= 1)
        assert stack.positions("products")["duplicates"] == 0
        assert stack.positions("orders")["duplicates"] == 0
