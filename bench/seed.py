"""Seed an event store with a commerce history: every aggregate type, every event type.

Aggregates are built with the domain model and saved through the application in large
batches (not through HTTP: a benchmark of rebuilds should not wait on argon2 and routing).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.domain import Aggregate

from write_side.application.shop import Shop
from write_side.domain.claims import Credentials, EmailClaim, SkuClaim
from write_side.domain.customer import Customer
from write_side.domain.order import LineItem, Order
from write_side.domain.payment import Payment
from write_side.domain.product import Product

PRODUCTS = 300
CUSTOMERS_PER_SAVE = 50


def seed(shop: Shop, events: int, progress: Callable[[int], None], rng_seed: int = 7) -> int:
    """Save at least ``events`` events; returns how many were saved."""
    rng = random.Random(rng_seed)
    saved = 0

    def save(*aggregates: Aggregate) -> None:
        nonlocal saved
        recordings = shop.save(*aggregates)
        saved += len(recordings)
        progress(len(recordings))

    products = []
    for n in range(PRODUCTS):
        product = Product.create(
            sku=f"BENCH-{n}",
            title=f"Bench product {n}",
            price=rng.randint(100, 10_000),
            description="A product the rebuild benchmark sells.",
            categories=rng.sample(["tools", "books", "garden", "kitchen"], rng.randint(1, 2)),
        )
        product.publish()
        product.adjust_stock(1_000_000, "initial stock")
        if n % 50 == 0:
            product.archive()  # a few archived products, never sold
        else:
            products.append(product)
        save(product, SkuClaim(sku=product.sku, product_id=product.id))

    number = 0
    while saved < events:
        batch: list[Aggregate] = []
        for _ in range(CUSTOMERS_PER_SAVE):
            number += 1
            batch.extend(_customer_history(rng, number, products))
        for product in rng.sample(products, 3):
            product.change_price(rng.randint(100, 10_000))
            product.change_details(
                title=f"{product.title.split(' (')[0]} ({number})",
                description=product.description,
                categories=product.categories,
            )
        save(*batch, *products)
    return saved


def _customer_history(rng: random.Random, n: int, products: list[Product]) -> list[Aggregate]:
    email = f"customer-{n}@bench.example"
    customer = Customer.register(email=email, name=f"Customer {n}")
    aggregates: list[Aggregate] = [
        customer,
        EmailClaim(email=email, customer_id=customer.id),
        Credentials(customer_id=customer.id, password_hash="$argon2id$bench"),
    ]
    if n % 3 == 0:
        customer.rename(f"Customer {n} Renamed")
    if n % 7 == 0:
        old = EmailClaim(email=f"old-{email}", customer_id=customer.id)
        old.release()
        customer.change_email(f"new-{email}")
        aggregates.extend([old, EmailClaim(email=f"new-{email}", customer_id=customer.id)])
    for _ in range(3):
        aggregates.extend(_order(rng, customer.id, products))
    return aggregates


def _order(rng: random.Random, customer_id: UUID, products: list[Product]) -> list[Aggregate]:
    return place_with_fate(rng, customer_id, rng.sample(products, rng.randint(1, 3)), 3, Fates())


@dataclass(frozen=True)
class Fates:
    """Where one uniform draw ends an order: below ``cancelled`` cancelled unpaid, below
    ``expired`` expired unpaid, below ``refunded`` paid then refunded, below ``shipped``
    shipped; the rest stay paid."""

    cancelled: float = 0.2
    expired: float = 0.2
    refunded: float = 0.35
    shipped: float = 0.9


def place_with_fate(
    rng: random.Random, customer_id: UUID, picked: list[Product], max_quantity: int, fates: Fates
) -> list[Aggregate]:
    """An order of ``picked`` (its reservations on them), taken to a fate drawn by ``fates``."""
    order = Order.place(
        customer_id=customer_id,
        lines=[
            LineItem(p.id, p.sku, p.title, p.price, rng.randint(1, max_quantity)) for p in picked
        ],
    )
    for product, line in zip(picked, order.lines, strict=True):
        product.reserve(order.id, line.quantity)
    fate = rng.random()
    if fate < fates.expired:
        order.cancel("changed my mind" if fate < fates.cancelled else "expired")
        for product in picked:
            product.release(order.id)
        return [order]
    payment = Payment(order_id=order.id, amount=order.total, token="tok_ok")
    payment.capture()
    order.pay(payment.id, order.total)
    if fate < fates.refunded:
        order.cancel("refund please")
        payment.refund()
        for product in picked:
            product.release(order.id)
    elif fate < fates.shipped:
        order.ship()
        for product in picked:
            product.commit(order.id)
    return [order, payment]
