"""Snapshots of long streams (write_side/persistence/snapshots.py), on in-memory stores."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest

from tests.support.loads import counted_reads
from write_side.application.shop import Shop
from write_side.domain.product import Product


def a_shop(every: int = 100) -> Shop:
    return Shop(snapshot_every=every, snapshot_in_background=False)


def state(product: Product) -> dict[str, Any]:
    return {k: v for k, v in vars(product).items() if k != "_pending_events"}


def long_product(shop: Shop, moves: int) -> tuple[UUID, UUID]:
    product_id = shop.create_product(sku=f"L-{uuid4().hex[:6]}", title="L", price=1).id
    shop.change_product(product_id, categories=["Kitchen", "gifts"])
    for _ in range(moves):
        shop.adjust_stock(product_id, delta=2)
    shop.publish_product(product_id)
    order = uuid4()
    product = shop.get_product(product_id)
    product.reserve(order, 3)  # a reservation held across the snapshot
    shop._save(product, subject=product)
    for _ in range(moves):
        shop.adjust_stock(product_id, delta=1)
    return product_id, order


def test_a_long_stream_loads_from_its_newest_snapshot_and_the_events_after_it() -> None:
    shop = a_shop(every=100)
    product_id, order = long_product(shop, 150)  # 1 + 1 + 150 + 1 + 1 + 150 = 304 events
    assert shop.snapshotter.written == 3  # at versions 100, 200 and 300
    reads = counted_reads(shop)
    loaded = shop.get_product(product_id)
    assert reads == [4]  # versions 301 to 304, after the snapshot at 300
    everything = a_shop(every=0)  # the same events, no snapshot: a full replay
    everything.recorder.insert_events(
        list(shop.recorder.select_events(product_id)),
    )
    assert state(loaded) == state(everything.get_product(product_id))
    assert loaded.categories == ("kitchen", "gifts") and loaded.reserved == {order: 3}
    loaded.release(order)  # the snapshot gave back UUID keys and a tuple
    assert loaded.available == loaded.on_hand


def test_a_snapshot_of_another_state_version_is_passed_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shop = a_shop(every=100)
    product_id, _ = long_product(shop, 60)  # 124 events: a snapshot at 100
    assert shop.snapshotter.written == 1
    # A release that changed the shape:
    monkeypatch.setattr(Product, "state_version", Product.state_version + 1)
    reads = counted_reads(shop)
    assert shop.get_product(product_id).on_hand == 60 * 2 + 60
    assert reads == [124]  # a full replay, not the old snapshot
    for _ in range(80):  # the next crossing writes a snapshot of the new shape
        shop.adjust_stock(product_id, delta=1)
    assert shop.snapshotter.written == 2
    reads.clear()
    assert shop.get_product(product_id).on_hand == 60 * 2 + 60 + 80
    assert reads == [4]


def test_short_streams_and_other_kinds_are_never_snapshotted() -> None:
    shop = a_shop(every=100)
    customer = shop.register_customer(email="s@example.com", name="S", password="pw-12345678")
    for n in range(120):
        shop.change_customer(customer.id, name=f"S{n}")
    product_id, _ = long_product(shop, 10)
    assert shop.snapshotter.written == 0
    assert list(shop.snapshots.get(product_id)) == []  # type: ignore[union-attr]
