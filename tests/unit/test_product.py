"""Product and stock rules, with a hypothesis model of stock on hand."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from write_side.application.shop import Shop
from write_side.domain.errors import InsufficientStockError, InvalidValueError, SkuTakenError
from write_side.domain.product import Product


def test_a_new_product_is_a_draft_with_no_stock() -> None:
    shop = Shop()
    result = shop.create_product(sku="mug-1", title="Mug", price=1299)
    product = shop.get_product(result.id)
    assert (product.sku, product.status, product.on_hand, product.price) == (
        "MUG-1",
        "draft",
        0,
        1299,
    )


def test_categories_are_stored_normalized_each_once() -> None:
    shop = Shop()
    result = shop.create_product(
        sku="mug-2", title="Mug", price=1, categories=[" Kitchen\tTools ", "GIFTS", "gifts"]
    )
    assert shop.get_product(result.id).categories == ("kitchen tools", "gifts")
    shop.change_product(result.id, categories=["Gifts", "kitchen tools"])
    assert shop.get_product(result.id).categories == ("gifts", "kitchen tools")
    for bad in (["ok", " "], ["x" * 101], [f"c{n}" for n in range(11)]):
        with pytest.raises(InvalidValueError):
            shop.change_product(result.id, categories=bad)


def test_skus_are_unique_whatever_their_case() -> None:
    shop = Shop()
    shop.create_product(sku="mug-1", title="Mug", price=1)
    with pytest.raises(SkuTakenError):
        shop.create_product(sku="MUG-1", title="Other mug", price=2)


@pytest.mark.parametrize(
    "fields",
    [
        {"sku": "", "title": "t", "price": 1},
        {"sku": "s", "title": " ", "price": 1},
        {"sku": "s", "title": "t", "price": -1},
    ],
)
def test_invalid_products_are_refused(fields: dict[str, object]) -> None:
    with pytest.raises(InvalidValueError):
        Product.create(**fields)  # type: ignore[arg-type]


@given(st.lists(st.integers(min_value=-50, max_value=50).filter(bool), max_size=30))
def test_stock_never_goes_negative_and_replays_to_the_same_state(deltas: list[int]) -> None:
    shop = Shop()
    product_id = shop.create_product(sku="s-1", title="t", price=1).id
    model = 0
    for delta in deltas:
        if model + delta < 0:
            with pytest.raises(InsufficientStockError):
                shop.adjust_stock(product_id, delta=delta)
        else:
            shop.adjust_stock(product_id, delta=delta)
            model += delta
        assert shop.get_product(product_id).on_hand == model >= 0
    replayed = Shop(env=None)
    for notification in shop.recorder.select_notifications(start=None, limit=1000):
        replayed.recorder.insert_events([notification])
    assert replayed.get_product(product_id).on_hand == model


def test_a_copy_of_a_product_shares_nothing_a_command_can_change() -> None:
    """The repository hands each command a deep copy of the cached product
    (Product.__deepcopy__ copies only what can change: the reservations)."""
    import copy
    from uuid import uuid4

    product = Product.create(sku="CP-1", title="Copy", price=1)
    product.publish()
    product.adjust_stock(10)
    held = uuid4()
    product.reserve(held, 2)
    copied = copy.deepcopy(product)
    copied.reserve(uuid4(), 3)
    copied.release(held)
    assert (product.reserved, product.available, len(product.pending_events)) == ({held: 2}, 8, 4)
    assert copied.available == 7 and copied.version == product.version + 2
