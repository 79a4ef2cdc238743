"""Read models folded from a history written by the real use cases, with no server.

The use cases run on the library's in-memory persistence; their stored events are placed
on topics as the relay would place them and folded by each projection's fold functions
(the in-memory twins of its SQL handlers; tests/integration/test_bulk_fold.py shows the
twins agree on PostgreSQL). Table shapes come from the projections' own DDL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest

from contracts.envelope import Envelope
from contracts.placement import place
from contracts.topics import topic_name
from projections.memory_rows import Row, Table
from projections.rebuild.bulk import BulkBuild, FoldOutcome
from projections.registry import PROJECTIONS
from projections.schema import MODEL_DDL
from write_side.application.passwords import Argon2Passwords, HashCost
from write_side.application.shop import LineRequest, Shop

_TABLE = re.compile(r"CREATE TABLE IF NOT EXISTS \{schema\}\.(\w+) \((.*)\)\s*$", re.S)


def shapes(name: str) -> dict[str, Table]:
    """Each table of read model ``name`` in memory: its columns and primary key, from DDL."""
    tables = {}
    for statement in MODEL_DDL[name]:
        found = _TABLE.match(statement.strip())
        if found is None:
            continue  # an index
        table, body = found.groups()
        lines = [line.strip() for line in body.split(",\n")]
        columns = [ln.split()[0] for ln in lines if not ln.startswith("PRIMARY KEY")]
        columns = [c for c in columns if "GENERATED" not in body.split(c, 1)[1].split(",")[0]]
        composite = re.search(r"PRIMARY KEY \(([^)]*)\)", body)
        key = (
            tuple(c.strip() for c in composite.group(1).split(","))
            if composite
            else tuple(ln.split()[0] for ln in lines if "PRIMARY KEY" in ln)
        )
        tables[table] = Table(table, tuple(columns), key)
    return tables


def published(shop: Shop) -> Iterator[tuple[str, Envelope]]:
    """Every event ``shop`` stored that the relay would publish: (topic, envelope)."""
    for n in shop.recorder.select_notifications(start=1, limit=1_000_000):
        placed = place(n.topic, n.originator_id)
        if placed is not None:  # None: internal, never published
            yield (
                placed.topic,
                Envelope(
                    n.id,
                    UUID(str(n.originator_id)),
                    n.originator_version,
                    placed.event_type,
                    placed.schema_version,
                    n.state,
                ),
            )


def folded(shop: Shop) -> dict[str, BulkBuild]:
    """Every projection, folded over everything ``shop`` stored, as from the topics."""
    builds = {name: BulkBuild(p, "unit", shapes(name)) for name, p in PROJECTIONS.items()}
    for build in builds.values():
        build.key_lookup = shop.keys.key_for_read  # personal fields are sealed
    for topic, envelope in published(shop):
        for name, build in builds.items():
            if topic in {topic_name(c) for c in PROJECTIONS[name].contexts}:
                outcome = FoldOutcome()
                build.fold(envelope, outcome)
                assert not outcome.failed, outcome.failed
    return builds


def rows(build: BulkBuild, table: str) -> Iterator[Row]:
    return iter(build.rows.tables[table].rows.values())


def one(build: BulkBuild, table: str, **match: object) -> Row:
    found = [r for r in rows(build, table) if all(r[k] == v for k, v in match.items())]
    assert len(found) == 1, (table, match, found)
    return found[0]


@pytest.fixture(scope="module")
def history() -> tuple[Shop, dict[str, UUID]]:
    """Two customers, two products; orders placed, paid, shipped and cancelled."""
    shop = Shop(passwords=Argon2Passwords(HashCost(1, 8, 1)), token_key=b"k" * 32)
    ann = shop.register_customer(email="ann@example.com", name="Ann", password="pw-12345678").id
    bob = shop.register_customer(email="bob@example.com", name="Bob", password="pw-12345678").id
    mug = shop.create_product(
        sku="MUG-1", title="Mug", price=1200, categories=["Kitchen", "gifts"]
    ).id
    pen = shop.create_product(sku="PEN-1", title="Pen", price=300).id
    for product, stock in ((mug, 10), (pen, 50)):
        shop.adjust_stock(product, delta=stock)
        shop.publish_product(product)
    shipped = shop.place_order(ann, [LineRequest(mug, 2), LineRequest(pen, 1)]).id
    shop.pay_order(shipped, token="tok_ok")
    shop.ship_order(shipped)
    cancelled = shop.place_order(bob, [LineRequest(mug, 1)]).id
    shop.pay_order(cancelled, token="tok_ok")
    shop.cancel_order(cancelled)
    placed = shop.place_order(bob, [LineRequest(pen, 4)]).id
    shop.change_customer(bob, name="Robert")
    shop.change_product(mug, price=1500)
    ids = {"ann": ann, "bob": bob, "mug": mug, "pen": pen}
    return shop, ids | {"shipped": shipped, "cancelled": cancelled, "placed": placed}


@pytest.fixture(scope="module")
def models(history: tuple[Shop, dict[str, UUID]]) -> dict[str, BulkBuild]:
    return folded(history[0])


def test_products_show_stock_reserved_and_sold(
    models: dict[str, BulkBuild], history: tuple[Shop, dict[str, UUID]]
) -> None:
    ids = history[1]
    mug = one(models["products"], "products", id=ids["mug"])
    assert (mug["on_hand"], mug["reserved"], mug["units_sold"]) == (8, 0, 2)
    assert (mug["price"], mug["status"], mug["categories"]) == (
        1500,
        "published",
        ["kitchen", "gifts"],
    )
    pen = one(models["products"], "products", id=ids["pen"])
    assert (pen["on_hand"], pen["reserved"], pen["units_sold"]) == (49, 4, 1)


def test_the_write_model_and_the_folded_read_model_agree_on_stock(
    models: dict[str, BulkBuild], history: tuple[Shop, dict[str, UUID]]
) -> None:
    shop, ids = history
    for name in ("mug", "pen"):
        product = shop.get_product(ids[name])
        row = one(models["products"], "products", id=ids[name])
        assert (row["on_hand"], row["on_hand"] - row["reserved"]) == (
            product.on_hand,
            product.available,
        )
        assert row["version"] == product.version


def test_orders_show_status_totals_and_lines(
    models: dict[str, BulkBuild], history: tuple[Shop, dict[str, UUID]]
) -> None:
    ids = history[1]
    orders = models["orders"]
    shipped = one(orders, "orders", id=ids["shipped"])
    assert (shipped["status"], shipped["total"], shipped["paid_amount"]) == ("shipped", 2700, 2700)
    cancelled = one(orders, "orders", id=ids["cancelled"])
    assert (cancelled["status"], cancelled["refunded"]) == ("cancelled", 1200)
    assert one(orders, "orders", id=ids["placed"])["status"] == "placed"
    lines = sorted(
        (r["position"], r["sku"], r["quantity"])
        for r in rows(orders, "order_lines")
        if r["order_id"] == ids["shipped"]
    )
    assert [(sku, quantity) for _, sku, quantity in lines] == [("MUG-1", 2), ("PEN-1", 1)]


def test_the_orders_view_shows_customers_and_products_as_they_are_now(
    models: dict[str, BulkBuild], history: tuple[Shop, dict[str, UUID]]
) -> None:
    ids = history[1]
    assert one(models["orders"], "order_customers", customer_id=ids["bob"])["name"] == "Robert"
    assert one(models["orders"], "order_products", product_id=ids["mug"])["sku"] == "MUG-1"


def test_customers_show_their_profile_and_order_statistics(
    models: dict[str, BulkBuild], history: tuple[Shop, dict[str, UUID]]
) -> None:
    ids = history[1]
    customers = models["customers"]
    assert one(customers, "customers", id=ids["bob"])["name"] == "Robert"
    assert one(customers, "customers", id=ids["ann"])["email"] == "ann@example.com"
    ann = one(customers, "customer_order_stats", customer_id=ids["ann"])
    bob = one(customers, "customer_order_stats", customer_id=ids["bob"])
    assert (ann["order_count"], bob["order_count"]) == (1, 2)
    assert ann["lifetime_value"] == 2700


def test_sales_by_day_count_placed_paid_revenue_and_refunds(
    models: dict[str, BulkBuild],
) -> None:
    today = datetime.now(UTC).date()
    day = one(models["sales"], "sales_by_day", day=today)
    assert (day["orders_placed"], day["orders_paid"]) == (3, 2)
    assert (day["revenue"], day["refunded"]) == (3900, 1200)


def test_folding_the_same_history_again_changes_nothing(
    history: tuple[Shop, dict[str, UUID]],
) -> None:
    """Events are applied once per aggregate version: a second delivery is a duplicate."""
    shop = history[0]
    build = folded(shop)["products"]
    before = {k: dict(v) for k, v in build.rows.tables["products"].rows.items()}
    outcome = FoldOutcome()
    for topic, envelope in published(shop):
        if topic == topic_name("catalog"):
            build.fold(envelope, outcome)
    assert outcome.applied == 0 and outcome.duplicates > 0
    assert build.rows.tables["products"].rows == before


def test_every_read_model_table_has_a_shape_with_a_key() -> None:
    for name in PROJECTIONS:
        for table in shapes(name).values():
            assert table.key and set(table.key) <= set(table.columns), table.name


def test_an_unknown_aggregate_has_no_rows(models: dict[str, BulkBuild]) -> None:
    assert models["products"].rows.find("products", uuid4()) is None
