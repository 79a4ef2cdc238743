"""Snapshots on PostgreSQL: written off the request path, the older ones pruned, a cold
load (a new process's first command) reads the newest and the events after it, and
nothing but loads reads them: the relay and the projectors see the events alone."""

from __future__ import annotations

from uuid import uuid4

from contracts.topics import INTERNAL_EVENT_TYPES
from eventshop import wiring
from tests.support.loads import counted_reads
from tests.support.stack import Servers, eventually, running_stack


def test_a_long_product_is_snapshotted_pruned_and_loaded_cold_from_its_snapshot(
    servers: Servers,
) -> None:
    with running_stack(servers, snapshot_every=100) as stack:
        shop = stack.admin.app.state.shop  # type: ignore[attr-defined]
        created = stack.admin.post(
            "/products", json={"sku": f"S-{uuid4().hex[:8]}", "title": "Best", "price": 5}
        )
        product_id = created.json()["id"]
        for _ in range(250):
            moved = stack.admin.post(f"/products/{product_id}/stock", json={"delta": 1})
        assert moved.json()["version"] == 251
        shop.snapshotter.flush()
        assert shop.snapshotter.written == 2  # versions 100 and 200
        rows = stack.sql(
            "SELECT originator_version, topic FROM {es}.shop_snapshots WHERE originator_id = %s",
            product_id,
        )
        assert rows == [(200, "snapshot:Product.s2")]  # the one at 100 was pruned

        cold = wiring.shop(stack.settings)  # another worker: nothing cached
        try:
            reads = counted_reads(cold)
            assert cold.get_product(product_id).on_hand == 250
            assert reads == [51]  # versions 201 to 251
        finally:
            cold.close()

        relay = stack.start_relay()
        eventually(lambda: relay.stats.published >= 251)
        stack.start_projectors("products")
        token = stack.admin.post(f"/products/{product_id}/stock", json={"delta": 1})
        read = stack.admin_queries.get(
            f"/products/{product_id}",
            headers={"X-Consistency-Token": token.headers["X-Consistency-Token"]},
        )
        assert read.json()["on_hand"] == 251
        rows = stack.sql("SELECT topic FROM {es}.shop_events")
        published = [t for (t,) in rows if t.rpartition(".v")[0] not in INTERNAL_EVENT_TYPES]
        assert relay.stats.published == len(published)  # events only: never a snapshot
