"""The use cases on the library's in-memory persistence: no server, milliseconds each.

Catalog, stock, orders, payments and their preconditions, as the application layer
enforces them; the same rules hold on PostgreSQL (tests/integration), where races and
idempotency keys are tried for real.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from uuid import UUID, uuid4

import pytest

from contracts.consistency import decode_token
from write_side.application.passwords import Argon2Passwords, HashCost
from write_side.application.shop import (
    CommandContext,
    LineRequest,
    NotFoundError,
    OutOfStockError,
    PaymentDeclinedError,
    PaymentGatewayFailedError,
    PaymentPendingError,
    PreconditionFailedError,
    Shop,
)
from write_side.domain.errors import (
    InsufficientStockError,
    InvalidTransitionError,
    InvalidValueError,
    NotPurchasableError,
    SkuTakenError,
)
from write_side.domain.payment import Payment

KEY = b"k" * 32


def a_shop() -> Shop:
    return Shop(passwords=Argon2Passwords(HashCost(1, 8, 1)), token_key=KEY)


def a_customer(shop: Shop) -> UUID:
    email = f"c-{uuid4().hex[:8]}@example.com"
    return shop.register_customer(email=email, name="C", password="correct-horse-1").id


def a_product(shop: Shop, stock: int = 10, price: int = 500, publish: bool = True) -> UUID:
    product = shop.create_product(sku=f"S-{uuid4().hex[:8]}", title="Thing", price=price).id
    if stock:
        shop.adjust_stock(product, delta=stock)
    if publish:
        shop.publish_product(product)
    return product


def an_order(shop: Shop, product: UUID, quantity: int = 1) -> UUID:
    return shop.place_order(a_customer(shop), [LineRequest(product, quantity)]).id


# Catalog and stock


def test_a_sku_is_unique_whatever_its_case() -> None:
    shop = a_shop()
    shop.create_product(sku="mug-1", title="Mug", price=100)
    with pytest.raises(SkuTakenError):
        shop.create_product(sku="MUG-1", title="Another mug", price=100)


@pytest.mark.parametrize(("sku", "title", "price"), [("", "T", 1), ("S", "", 1), ("S", "T", -1)])
def test_an_invalid_product_stores_nothing(sku: str, title: str, price: int) -> None:
    shop = a_shop()
    with pytest.raises(InvalidValueError):
        shop.create_product(sku=sku, title=title, price=price)
    assert shop.recorder.max_notification_id() is None


def test_stock_adds_up_and_cannot_go_below_zero() -> None:
    shop = a_shop()
    product = a_product(shop, stock=5)
    shop.adjust_stock(product, delta=-2)
    assert shop.get_product(product).on_hand == 3
    with pytest.raises(InsufficientStockError):
        shop.adjust_stock(product, delta=-4)
    assert shop.get_product(product).on_hand == 3


def test_if_match_refuses_a_stale_version_and_changes_nothing() -> None:
    shop = a_shop()
    product = a_product(shop)
    version = shop.get_product(product).version
    shop.change_product(product, price=700, ctx=CommandContext(expected_version=version))
    with pytest.raises(PreconditionFailedError):
        shop.change_product(product, price=900, ctx=CommandContext(expected_version=version))
    assert shop.get_product(product).price == 700


def test_an_archived_product_cannot_be_ordered() -> None:
    shop = a_shop()
    product = a_product(shop)
    shop.archive_product(product)
    with pytest.raises(OutOfStockError) as refused:
        an_order(shop, product)
    assert refused.value.lines[0]["available"] == 0


def test_an_unpublished_product_cannot_be_ordered() -> None:
    shop = a_shop()
    product = a_product(shop, publish=False)
    with pytest.raises(OutOfStockError):
        an_order(shop, product)


def test_a_missing_product_is_not_found() -> None:
    with pytest.raises(NotFoundError):
        a_shop().adjust_stock(uuid4(), delta=1)


# Orders


def test_placing_an_order_reserves_its_stock() -> None:
    shop = a_shop()
    product = a_product(shop, stock=5, price=250)
    order = shop.get_order(an_order(shop, product, quantity=2))
    assert order.status == "placed"
    assert (shop.get_product(product).on_hand, shop.get_product(product).available) == (5, 3)
    assert sum(line.unit_price * line.quantity for line in order.lines) == 500


def test_an_order_for_more_than_is_available_reserves_nothing() -> None:
    shop = a_shop()
    plenty, scarce = a_product(shop, stock=10), a_product(shop, stock=1)
    customer = a_customer(shop)
    with pytest.raises(OutOfStockError) as refused:
        shop.place_order(customer, [LineRequest(plenty, 3), LineRequest(scarce, 2)])
    assert refused.value.lines == [{"product_id": str(scarce), "requested": 2, "available": 1}]
    assert shop.get_product(plenty).available == 10, "all or nothing"


def test_cancelling_releases_the_reservation() -> None:
    shop = a_shop()
    product = a_product(shop, stock=4)
    order = an_order(shop, product, quantity=3)
    shop.cancel_order(order)
    assert shop.get_order(order).status == "cancelled"
    assert shop.get_product(product).available == 4


def test_a_cancelled_order_cannot_be_paid_or_shipped() -> None:
    shop = a_shop()
    order = an_order(shop, a_product(shop))
    shop.cancel_order(order)
    with pytest.raises(InvalidTransitionError):
        shop.pay_order(order, token="tok_ok")
    with pytest.raises(InvalidTransitionError):
        shop.ship_order(order)


def test_only_a_paid_order_ships_and_shipping_takes_the_stock() -> None:
    shop = a_shop()
    product = a_product(shop, stock=5)
    order = an_order(shop, product, quantity=2)
    with pytest.raises(InvalidTransitionError):
        shop.ship_order(order)
    shop.pay_order(order, token="tok_ok")
    shop.ship_order(order)
    assert shop.get_order(order).status == "shipped"
    assert (shop.get_product(product).on_hand, shop.get_product(product).available) == (3, 3)


def test_a_shipped_order_cannot_be_cancelled() -> None:
    shop = a_shop()
    order = an_order(shop, a_product(shop))
    shop.pay_order(order, token="tok_ok")
    shop.ship_order(order)
    with pytest.raises(InvalidTransitionError):
        shop.cancel_order(order)


# Payments


def test_paying_captures_once_and_marks_the_order_paid() -> None:
    shop = a_shop()
    order = an_order(shop, a_product(shop, price=300), quantity=2)
    shop.pay_order(order, token="tok_ok")
    paid = shop.get_order(order)
    assert paid.status == "paid"
    payment = shop.get_payment(Payment.create_id(order))
    assert (payment.status, payment.amount) == ("captured", 600)
    with pytest.raises(InvalidTransitionError):
        shop.pay_order(order, token="tok_ok")  # paid is paid


def test_a_declined_payment_leaves_the_order_placed() -> None:
    shop = a_shop()
    order = an_order(shop, a_product(shop))
    with pytest.raises(PaymentDeclinedError):
        shop.pay_order(order, token="tok_declined")
    assert shop.get_order(order).status == "placed"


def test_a_gateway_error_leaves_the_order_placed_and_payable() -> None:
    shop = a_shop()
    order = an_order(shop, a_product(shop))
    with pytest.raises(PaymentGatewayFailedError):
        shop.pay_order(order, token="tok_error")
    shop.pay_order(order, token="tok_ok")
    assert shop.get_order(order).status == "paid"


def test_a_timed_out_capture_is_settled_later_without_charging_twice() -> None:
    shop = a_shop()
    order = an_order(shop, a_product(shop, price=100))
    with pytest.raises(PaymentPendingError):
        shop.pay_order(order, token="tok_timeout")
    pending = shop.get_order(order)
    assert pending.status == "placed"
    payment_id = Payment.create_id(order)  # recorded before the gateway was asked
    assert shop.settle_payment(payment_id) == "captured"
    assert shop.get_order(order).status == "paid"
    assert shop.settle_payment(payment_id) == "captured"  # settling again changes nothing


def test_cancelling_a_paid_order_refunds_it() -> None:
    shop = a_shop()
    order = an_order(shop, a_product(shop))
    shop.pay_order(order, token="tok_ok")
    shop.cancel_order(order)
    payment = shop.get_payment(Payment.create_id(order))
    assert payment.status == "refunded"


# Results


def test_every_command_answers_a_token_naming_its_published_events() -> None:
    shop = a_shop()
    product = a_product(shop)
    result = shop.adjust_stock(product, delta=1)
    marks = decode_token(result.consistency_token, KEY)
    assert [m.topic for m in marks] == ["shop.catalog"]
    assert result.version == shop.get_product(product).version


def test_a_token_from_another_key_is_refused() -> None:
    result = a_shop().create_product(sku="T-1", title="T", price=1)
    with pytest.raises(ValueError):
        decode_token(result.consistency_token, b"x" * 32)


def test_placing_an_order_on_an_unknown_product_is_not_found() -> None:
    shop = a_shop()
    with pytest.raises(NotFoundError):
        shop.place_order(a_customer(shop), [LineRequest(uuid4(), 1)])


def test_not_purchasable_is_a_domain_rule_of_the_product() -> None:
    shop = a_shop()
    product = shop.get_product(a_product(shop, publish=False))
    with pytest.raises(NotPurchasableError):
        product.reserve(uuid4(), 1)


def test_a_customer_acting_on_someone_elses_order_finds_nothing_there() -> None:
    """Ownership is the use case's: another customer's order is as missing as a missing
    one, even with a stale If-Match (which would otherwise tell it exists)."""
    shop = a_shop()
    order = an_order(shop, a_product(shop))
    stranger = CommandContext(expected_version=99).acting(a_customer(shop))
    attempts: list[Callable[[], object]] = [
        lambda: shop.pay_order(order, token="tok_ok", ctx=stranger),
        lambda: shop.cancel_order(order, ctx=stranger),
    ]
    for attempt in attempts:
        with pytest.raises(NotFoundError):
            attempt()
    owner = shop.get_order(order).customer_id
    shop.cancel_order(order, ctx=CommandContext().acting(owner))
    assert shop.get_order(order).status == "cancelled"


def test_a_customer_may_change_only_their_own_profile() -> None:
    shop = a_shop()
    ann, bob = a_customer(shop), a_customer(shop)
    with pytest.raises(NotFoundError):
        shop.change_customer(ann, name="Not Ann", ctx=CommandContext().acting(bob))
    shop.change_customer(ann, name="Ann", ctx=CommandContext().acting(ann))
    assert shop.get_customer(ann).name == "Ann"


def test_an_unpaid_order_expires_and_its_stock_is_released() -> None:
    shop = a_shop()
    product = a_product(shop, stock=3)
    order = an_order(shop, product, quantity=2)
    assert shop.get_product(product).available == 1
    shop.expire_order(order)
    expired = shop.get_order(order)
    assert (expired.status, shop.get_product(product).available) == ("cancelled", 3)
    with pytest.raises(InvalidTransitionError):  # once only
        shop.expire_order(order)


def test_a_paid_order_does_not_expire() -> None:
    shop = a_shop()
    order = an_order(shop, a_product(shop))
    shop.pay_order(order, token="tok_ok")
    with pytest.raises(InvalidTransitionError) as refused:
        shop.expire_order(order)
    assert refused.value.state == "paid"
    assert shop.get_order(order).status == "paid"


def test_stored_topics_name_contracts_never_modules() -> None:
    """Stored events carry `<Type>.v<N>`, never a Python module path: moving or renaming a
    module can never make stored history unreadable."""
    shop = Shop(passwords=Argon2Passwords(HashCost(1, 8, 1)), token_key=b"k" * 32)
    shop.register_customer(email="t@example.com", name="T", password="pw-12345678")
    product = shop.create_product(sku="TOPIC-1", title="Topic", price=5).id
    shop.adjust_stock(product, delta=3)
    shop.publish_product(product)
    topics = {n.topic for n in shop.recorder.select_notifications(start=1, limit=1000)}
    assert topics, "nothing stored"
    assert all(re.fullmatch(r"[A-Z][A-Za-z]+\.v[0-9]+", t) for t in topics), topics
