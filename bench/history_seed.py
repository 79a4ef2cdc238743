"""A shop that has lived: two years of trade, generated through the domain and saved
through the application (not HTTP), at any size.

At ``Shape.of(1_000_000)``: 100,000 customers, 20,000 products, a million orders in their
real fates (shipped, paid, cancelled before paying, expired, refunded) — about 8 million
events — one bestseller on one order in five (a reservation and a commit or a release each:
about 400,000 events on one stream), one customer with 2,000 orders, and timestamps spread
over 730 days. The same function at ``Shape.for_events(50_000)`` is the small store every
figure is compared with, and a test fixture at a few thousand.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from eventsourcing.domain import Aggregate, CanCreateTimestamp

from bench.seed import Fates, place_with_fate
from write_side.application.shop import Shop
from write_side.domain.claims import Credentials, EmailClaim, SkuClaim
from write_side.domain.customer import Customer
from write_side.domain.product import Product

DAYS = 730
#: Events a customer, a product and an order bring on average (measured on this generator).
PER_CUSTOMER, PER_PRODUCT, PER_ORDER = 3.25, 4.0, 7.75
ORDERS_PER_SAVE = 250
#: 10 % cancelled unpaid, 8 % expired, 12 % refunded, 55 % shipped, 15 % paid and waiting.
FATES = Fates(cancelled=0.10, expired=0.18, refunded=0.30, shipped=0.85)
CATEGORIES = ["kitchen", "garden", "books", "tools", "toys", "gifts", "office", "outdoor"]


@dataclass(frozen=True)
class Shape:
    """A customer per ten orders and a product per fifty, as the issue's shop has them."""

    customers: int
    products: int
    orders: int
    heavy_orders: int

    @classmethod
    def of(cls, orders: int) -> Shape:
        return cls(
            customers=max(orders // 10, 5),
            products=max(orders // 50, 5),
            orders=orders,
            heavy_orders=min(2_000, orders // 10),
        )

    @classmethod
    def for_events(cls, events: int) -> Shape:
        """About ``events`` events in all."""
        per_order = PER_ORDER + PER_CUSTOMER / 10 + PER_PRODUCT / 50
        return cls.of(max(int(events / per_order), 20))


@dataclass
class Seeded:
    """What a benchmark needs to find again: ids of the notable aggregates."""

    events: int
    bestseller: UUID
    heavy_customer: UUID
    some_customer: UUID
    some_order: UUID
    some_product: UUID
    some_product_title: str


@contextmanager
def clock(start: datetime) -> Iterator[Callable[[timedelta], None]]:
    """Domain events take their time from here, not from now(); ``advance`` moves it."""
    now = [start]
    original = CanCreateTimestamp.__dict__["create_timestamp"]
    CanCreateTimestamp.create_timestamp = staticmethod(lambda: now[0])  # type: ignore[method-assign]

    def advance(by: timedelta) -> None:
        now[0] += by

    try:
        yield advance
    finally:
        CanCreateTimestamp.create_timestamp = original  # type: ignore[method-assign]


def seed_history(
    shop: Shop, shape: Shape, progress: Callable[[int], None], rng_seed: int = 11, tag: str = ""
) -> Seeded:
    """``tag`` tells apart the emails and skus of a second seeding of the same store."""
    rng = random.Random(rng_seed)
    saved = 0

    def save(*aggregates: Aggregate) -> None:
        nonlocal saved
        recordings = shop.save(*aggregates)
        # As a command's save does: the bestseller is snapshotted as its stream grows.
        shop.snapshotter.saved(
            aggregates, Counter(r.domain_event.originator_id for r in recordings)
        )
        saved += len(recordings)
        progress(len(recordings))

    start = datetime.now(UTC) - timedelta(days=DAYS)
    with clock(start) as advance:
        customers: list[UUID] = []
        for first in range(0, shape.customers, 500):
            batch: list[Aggregate] = []
            for n in range(first, min(first + 500, shape.customers)):
                batch += _customer(n, tag)
                customers.append(batch[-3].id)
            save(*batch)
        products = [_product(n, rng, tag) for n in range(shape.products)]
        for first in range(0, len(products), 500):
            chunk = products[first : first + 500]
            save(*chunk, *(SkuClaim(sku=p.sku, product_id=p.id) for p in chunk))
        heavy, bestseller = customers[0], products[0]
        step = timedelta(days=DAYS) / shape.orders
        some_order = None
        for first in range(0, shape.orders, ORDERS_PER_SAVE):
            batch, touched = [], {}
            for n in range(first, min(first + ORDERS_PER_SAVE, shape.orders)):
                buyer = heavy if n % max(shape.orders // shape.heavy_orders, 1) == 0 else None
                picked = rng.sample(products[1:], rng.choice((1, 1, 2, 3)))
                if n % 5 == 0:
                    picked = [bestseller, *picked[:1]]
                batch += place_with_fate(rng, buyer or rng.choice(customers), picked, 2, FATES)
                some_order = some_order or batch[0].id
                touched.update({p.id: p for p in picked})
                advance(step)
            save(*batch, *touched.values())
    shop.snapshotter.flush()
    assert some_order is not None
    return Seeded(
        saved, bestseller.id, heavy, customers[-1], some_order, products[-1].id, products[-1].title
    )


def _customer(n: int, tag: str) -> list[Aggregate]:
    email = f"c{n}{tag}@history.example"
    customer = Customer.register(email=email, name=f"Customer {n}")
    if n % 4 == 0:
        customer.rename(f"Customer {n} B")
    return [
        customer,
        EmailClaim(email=email, customer_id=customer.id),
        Credentials(customer_id=customer.id, password_hash="$argon2id$history"),
    ]


def _product(n: int, rng: random.Random, tag: str) -> Product:
    product = Product.create(
        sku=f"H-{n}{tag}",
        title=f"{rng.choice(['Red', 'Oak', 'Steel', 'Linen'])} item {n}",
        price=rng.randint(100, 20_000),
        description="A product of the history benchmark.",
        categories=rng.sample(CATEGORIES, rng.randint(1, 2)),
    )
    product.publish()
    product.adjust_stock(10**9, "opening stock")
    return product
