"""Orders across the Kafka hop: the orders view, customer statistics and visibility.

Every read uses the token of the write it depends on: no sleeps, no retries.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from tests.support.stack import PASSWORD, Servers, Stack, WithHeaders, login, running_stack

TOKEN = "X-Consistency-Token"


@pytest.fixture(scope="module")
def stack(servers: Servers) -> Iterator[Stack]:
    with running_stack(servers) as stack:
        stack.start_relay()
        stack.start_projectors()
        yield stack


@dataclass
class Shopper:
    id: str
    email: str
    auth: dict[str, str]


def a_shopper(stack: Stack, name: str = "Olive") -> Shopper:
    email = f"v-{uuid4().hex[:8]}@example.com"
    created = stack.commands.post(
        "/customers", json={"email": email, "name": name, "password": PASSWORD}
    )
    token = login(stack.commands, email)
    return Shopper(created.json()["id"], email, {"Authorization": f"Bearer {token}"})


def a_product(stack: Stack, title: str, price: int, stock: int = 10) -> tuple[str, str]:
    sku = f"V-{uuid4().hex[:8]}".upper()
    product_id = stack.admin.post(
        "/products", json={"sku": sku, "title": title, "price": price}
    ).json()["id"]
    stack.admin.post(f"/products/{product_id}/stock", json={"delta": stock})
    stack.admin.post(f"/products/{product_id}/publish")
    return product_id, sku


def as_shopper(stack: Stack, shopper: Shopper) -> WithHeaders:
    return WithHeaders(stack.queries, shopper.auth)


def test_a_placed_order_is_visible_in_every_view_with_its_token(stack: Stack) -> None:
    shopper = a_shopper(stack)
    lamp, lamp_sku = a_product(stack, "Lamp", 1999)
    desk, _ = a_product(stack, "Desk", 15000)
    placed = stack.commands.post(
        "/orders",
        headers=shopper.auth,
        json={"lines": [{"product_id": lamp, "quantity": 2}, {"product_id": desk, "quantity": 1}]},
    )
    token = {TOKEN: placed.headers[TOKEN]}
    order_id = placed.json()["id"]
    mine = as_shopper(stack, shopper)

    order = mine.get(f"/orders/{order_id}", headers=token)
    me = mine.get("/customers/me", headers=token)
    product = stack.queries.get(f"/products/{lamp}", headers=token)

    assert order.status_code == 200, order.text
    body = order.json()
    assert body["customer"] == {"id": shopper.id, "name": "Olive", "email": shopper.email}
    assert body["lines"][0] == {
        "product_id": lamp,
        "sku": lamp_sku,
        "title": "Lamp",
        "quantity": 2,
        "unit_price": 1999,
        "line_total": 3998,
    }
    assert (body["status"], body["payment_status"], body["total"]) == ("placed", "unpaid", 18998)
    assert (me.json()["order_count"], me.json()["lifetime_value"]) == (1, 0)
    assert me.json()["last_order_at"] == body["placed_at"]
    assert (product.json()["reserved"], product.json()["available"]) == (2, 8)


def test_paying_and_cancelling_move_the_lifetime_value(stack: Stack) -> None:
    shopper = a_shopper(stack)
    lamp, _ = a_product(stack, "Lamp", 500)
    order_id = stack.commands.post(
        "/orders", headers=shopper.auth, json={"lines": [{"product_id": lamp, "quantity": 3}]}
    ).json()["id"]
    paid = stack.commands.post(
        f"/orders/{order_id}/pay", headers=shopper.auth, json={"payment_token": "tok_ok"}
    )
    mine = as_shopper(stack, shopper)
    assert (
        mine.get("/customers/me", headers={TOKEN: paid.headers[TOKEN]}).json()["lifetime_value"]
        == 1500
    )
    cancelled = stack.commands.post(f"/orders/{order_id}/cancel", headers=shopper.auth)
    token = {TOKEN: cancelled.headers[TOKEN]}
    assert mine.get("/customers/me", headers=token).json()["lifetime_value"] == 0
    order = mine.get(f"/orders/{order_id}", headers=token).json()
    assert (order["status"], order["payment_status"]) == ("cancelled", "refunded")
    assert order["paid_at"] is not None and order["cancelled_at"] is not None


def test_a_rename_and_a_retitle_reach_orders_placed_before(stack: Stack) -> None:
    shopper = a_shopper(stack, "Before")
    lamp, _ = a_product(stack, "Old title", 100)
    order_id = stack.commands.post(
        "/orders", headers=shopper.auth, json={"lines": [{"product_id": lamp, "quantity": 1}]}
    ).json()["id"]
    stack.commands.patch(f"/customers/{shopper.id}", headers=shopper.auth, json={"name": "After"})
    retitled = stack.admin.patch(f"/products/{lamp}", json={"title": "New title", "price": 999})
    order = (
        as_shopper(stack, shopper)
        .get(f"/orders/{order_id}", headers={TOKEN: retitled.headers[TOKEN]})
        .json()
    )
    assert order["lines"][0]["title"] == "New title"
    assert order["lines"][0]["unit_price"] == 100  # the price stays as it was at placing
    renamed = as_shopper(stack, shopper).get(f"/orders/{order_id}").json()
    assert renamed["customer"]["name"] == "After"


def test_customers_see_only_their_own_and_admins_see_all(stack: Stack) -> None:
    owner, other = a_shopper(stack), a_shopper(stack)
    lamp, _ = a_product(stack, "Lamp", 100)
    placed = stack.commands.post(
        "/orders", headers=owner.auth, json={"lines": [{"product_id": lamp, "quantity": 1}]}
    )
    token = {TOKEN: placed.headers[TOKEN]}
    order_id = placed.json()["id"]
    theirs = as_shopper(stack, other)
    assert theirs.get(f"/orders/{order_id}", headers=token).status_code == 404
    assert theirs.get(f"/customers/{owner.id}").status_code == 404
    assert theirs.get(f"/customers/{owner.id}/orders").status_code == 404
    assert theirs.get("/orders").status_code == 403
    assert stack.queries.get(f"/orders/{order_id}").status_code == 401
    listed = stack.admin_queries.get("/orders", params={"customer_id": owner.id}, headers=token)
    assert [o["id"] for o in listed.json()["items"]] == [order_id]
    assert stack.admin_queries.get("/orders", params={"status": "shipped!"}).status_code == 422


def test_a_customers_orders_page_newest_first(stack: Stack) -> None:
    shopper = a_shopper(stack)
    lamp, _ = a_product(stack, "Lamp", 100, stock=10)
    placed = [
        stack.commands.post(
            "/orders", headers=shopper.auth, json={"lines": [{"product_id": lamp, "quantity": 1}]}
        )
        for _ in range(5)
    ]
    mine = as_shopper(stack, shopper)
    page = mine.get(
        f"/customers/{shopper.id}/orders",
        params={"limit": 2},
        headers={TOKEN: placed[-1].headers[TOKEN]},
    ).json()
    seen = [o["id"] for o in page["items"]]
    while page["next_cursor"]:
        page = mine.get(
            f"/customers/{shopper.id}/orders", params={"limit": 2, "cursor": page["next_cursor"]}
        ).json()
        seen += [o["id"] for o in page["items"]]
    assert seen == [p.json()["id"] for p in reversed(placed)]


def test_admin_reports_show_sales_by_day_and_low_stock(stack: Stack) -> None:
    shopper = a_shopper(stack)
    scarce, _ = a_product(stack, "Scarce", 700, stock=3)
    placed = stack.commands.post(
        "/orders", headers=shopper.auth, json={"lines": [{"product_id": scarce, "quantity": 2}]}
    )
    paid = stack.commands.post(
        f"/orders/{placed.json()['id']}/pay", headers=shopper.auth, json={"payment_token": "tok_ok"}
    )
    today = datetime.now(UTC).date().isoformat()
    days = stack.admin_queries.get(
        "/reports/sales", params={"from": today, "to": today}, headers={TOKEN: paid.headers[TOKEN]}
    ).json()
    assert [d["day"] for d in days] == [today]
    assert days[0]["orders_paid"] >= 1 and days[0]["revenue"] >= 1400
    low = stack.admin_queries.get(
        "/reports/low-stock", params={"threshold": 1}, headers={TOKEN: placed.headers[TOKEN]}
    ).json()
    assert scarce in [p["id"] for p in low]
    assert all(p["available"] <= 1 for p in low)
    mine = as_shopper(stack, shopper)
    assert mine.get("/reports/sales", params={"from": today, "to": today}).status_code == 403
    for bad in (
        {"from": today, "to": "2000-01-01"},
        {"from": "2020-01-01", "to": today},
        {"from": "yesterday", "to": today},
        {"to": today},
    ):
        assert stack.admin_queries.get("/reports/sales", params=bad).status_code == 422, bad
