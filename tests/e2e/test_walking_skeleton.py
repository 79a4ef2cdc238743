"""A command travels the whole path: HTTP → event store → relay → Kafka → projector → HTTP.

No sleeps and no retries: the consistency token makes each query wait for its write.
"""

from __future__ import annotations

from collections.abc import Iterator
from uuid import uuid4

import pytest

from contracts.readmodels import SOURCES
from contracts.topics import PARTITIONS
from tests.support.metrics import metrics_of
from tests.support.stack import PASSWORD, Servers, Stack, eventually, login, running_stack

TOKEN = "X-Consistency-Token"


@pytest.fixture(scope="module")
def stack(servers: Servers) -> Iterator[Stack]:
    # The mail intake left to a reactor, and none runs: its partitions show as down below.
    with running_stack(servers, mail_intake="reactor") as stack:
        stack.start_relay()
        stack.start_projectors()
        yield stack


def unique_email() -> str:
    return f"ann-{uuid4().hex[:8]}@Example.com"


def test_a_registered_customer_is_readable_with_the_token(stack: Stack) -> None:
    email = unique_email()
    created = stack.commands.post(
        "/customers", json={"email": email, "name": "Ann", "password": PASSWORD}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert created.headers[TOKEN] == body["consistency_token"]
    assert created.headers["Location"] == f"/customers/{body['id']}"

    read = stack.admin_queries.get(
        f"/customers/{body['id']}", headers={TOKEN: body["consistency_token"]}
    )

    assert read.status_code == 200, read.text
    assert read.json() == {
        "id": body["id"],
        "email": email.lower(),
        "name": "Ann",
        "role": "customer",
        "order_count": 0,
        "lifetime_value": 0,
        "last_order_at": None,
    }


def test_a_product_and_its_stock_are_readable_with_the_token(stack: Stack) -> None:
    sku = f"MUG-{uuid4().hex[:6]}".upper()
    created = stack.admin.post(
        "/products", json={"sku": sku, "title": "Mug", "price": 1299, "category": "kitchen"}
    )
    assert created.status_code == 201, created.text
    product_id = created.json()["id"]
    stock = stack.admin.post(f"/products/{product_id}/stock", json={"delta": 25})
    assert stock.status_code == 200, stock.text
    written_off = stack.admin.post(
        f"/products/{product_id}/stock", json={"delta": -5, "reason": "broken"}
    )
    assert written_off.json()["version"] == 3

    read = stack.admin_queries.get(  # a draft: only admins see it
        f"/products/{product_id}", headers={TOKEN: written_off.headers[TOKEN]}
    )

    assert read.status_code == 200, read.text
    assert read.json() == {
        "id": product_id,
        "sku": sku,
        "title": "Mug",
        "description": "",
        "categories": ["kitchen"],  # sent by a v1 client as the deprecated "category"
        "category": "kitchen",
        "price": 1299,
        "status": "draft",
        "on_hand": 20,
        "reserved": 0,
        "available": 20,
        "units_sold": 0,
    }
    listed = stack.admin_queries.get("/products", params={"limit": 100}).json()
    assert product_id not in [p["id"] for p in stack.queries.get("/products").json()["items"]]
    assert product_id in [item["id"] for item in listed["items"]]


def test_a_token_for_another_read_model_does_not_make_a_query_wait(stack: Stack) -> None:
    created = stack.commands.post(
        "/customers", json={"email": unique_email(), "name": "Bo", "password": PASSWORD}
    )
    # The customer's events are on shop.customers; the products model never waits for them.
    listed = stack.queries.get("/products", headers={TOKEN: created.headers[TOKEN]})
    assert listed.status_code == 200


def test_products_page_through_in_a_stable_order(stack: Stack) -> None:
    for n in range(5):
        stack.admin.post(
            "/products", json={"sku": f"PG-{uuid4().hex[:8]}-{n}", "title": "P", "price": n}
        )
    last = stack.admin.post(
        "/products", json={"sku": f"PG-{uuid4().hex[:8]}", "title": "P", "price": 9}
    )
    first_page = stack.admin_queries.get(
        "/products", params={"limit": 2}, headers={TOKEN: last.headers[TOKEN]}
    ).json()
    seen = [item["id"] for item in first_page["items"]]
    cursor = first_page["next_cursor"]
    while cursor:
        page = stack.admin_queries.get("/products", params={"limit": 2, "cursor": cursor}).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
    all_at_once = stack.admin_queries.get("/products", params={"limit": 100}).json()["items"]
    assert seen == [item["id"] for item in all_at_once]
    assert len(seen) == len(set(seen)) >= 6


def test_an_order_shipped_shows_as_units_sold_in_the_products_model(stack: Stack) -> None:
    product_id = stack.admin.post(
        "/products", json={"sku": f"S-{uuid4().hex[:8]}", "title": "Stool", "price": 4000}
    ).json()["id"]
    stack.admin.post(f"/products/{product_id}/stock", json={"delta": 10})
    stack.admin.patch(f"/products/{product_id}", json={"title": "Bar stool", "price": 4500})
    stack.admin.post(f"/products/{product_id}/publish")
    email = unique_email()
    stack.commands.post("/customers", json={"email": email, "name": "Sid", "password": PASSWORD})
    token = login(stack.commands, email)
    auth = {"Authorization": f"Bearer {token}"}
    order = stack.commands.post(
        "/orders", json={"lines": [{"product_id": product_id, "quantity": 3}]}, headers=auth
    )
    assert order.status_code == 201, order.text
    reserved = stack.queries.get(
        f"/products/{product_id}", headers={TOKEN: order.headers[TOKEN]}
    ).json()
    assert (reserved["on_hand"], reserved["reserved"], reserved["available"]) == (10, 3, 7)
    order_id = order.json()["id"]
    stack.commands.post(f"/orders/{order_id}/pay", json={"payment_token": "tok_ok"}, headers=auth)
    shipped = stack.admin.post(f"/orders/{order_id}/ship")

    read = stack.queries.get(f"/products/{product_id}", headers={TOKEN: shipped.headers[TOKEN]})

    assert read.json() | {"id": None, "sku": None} == {
        "id": None,
        "sku": None,
        "title": "Bar stool",
        "description": "",
        "categories": [],
        "category": "",
        "price": 4500,
        "status": "published",
        "on_hand": 7,
        "reserved": 0,
        "available": 7,
        "units_sold": 3,
    }


def test_operators_see_each_projections_position_and_lag(stack: Stack) -> None:
    created = stack.commands.post(
        "/customers", json={"email": unique_email(), "name": "Op", "password": PASSWORD}
    )
    stack.admin_queries.get(
        f"/customers/{created.json()['id']}", headers={TOKEN: created.headers[TOKEN]}
    )
    status = stack.admin_queries.get("/projections")
    assert status.status_code == 200, status.text
    rows = status.json()
    assert {row["projection"] for row in rows} >= {"customers", "orders"}
    customers = [r for r in rows if r["projection"] == "customers"]
    assert sum(r["applied"] for r in customers) >= 1
    # Every partition it has applied is held by this process, live, and caught up.
    assert all(r["owner"] and r["heartbeat_at"] and r["state"] == "live" for r in customers)

    def caught_up() -> bool:
        now = stack.admin_queries.get("/projections").json()
        models = [r for r in now if r["projection"] in SOURCES]  # the consumers running here
        return all(r["lag_events"] == 0 and r["relay_backlog"] == 0 for r in models)

    eventually(caught_up, timeout=10)
    # No mail reactor runs in this stack: its partitions were never taken, and say so.
    mail = [r for r in stack.admin_queries.get("/projections").json() if r["projection"] == "mail"]
    assert len(mail) == 2 * PARTITIONS  # customers and orders, every partition
    assert all(r["state"] == "down" for r in mail)
    assert sum(r["lag_events"] for r in mail) >= 1  # the registration above, not yet taken
    assert stack.queries.get("/projections").status_code == 401
    # The same figures as gauges, on the query API: a process that is not a projector.
    metrics = metrics_of(stack.queries)
    assert 'eventshop_projection_lag_events{partition="' in metrics
    assert "eventshop_projection_up{" in metrics and "eventshop_relay_backlog_events 0.0" in metrics
