"""Injection payloads in every filter, sort and cursor of the query API (guarantee 9).

Each payload goes into each query parameter of each listing, as an admin (who sees
everything). The answer is a 4xx with a problem body, or a 200 that is correct: the
payload names no product, order or category of this store, so a correct answer holds no
row at all — a payload read as SQL or as a pattern (``%``, ``_``) would bring rows back.
"""

from __future__ import annotations

from collections.abc import Iterator
from uuid import uuid4

import pytest

from tests.support.stack import PASSWORD, Servers, Stack, login, running_stack

PAYLOADS = {
    "quote": "' OR '1'='1",
    "comment": "x'; DROP TABLE products; --",
    "union": "1 UNION SELECT id, email FROM customers--",
    "percent": "%",
    "underscore": "_",
    "backslash": "\\",
    "nul": "a\x00b",
    "rtl override": "\u202egifts",
    "zero width": "\u200b",
    "bom": "\ufeffkitchen",
    "combining": "e\u0301" * 50,
    "emoji": "\U0001f4a5" * 20,
    "json": '{"$gt": ""}',
    "tsquery": "!(a & b) | c:*",
    "path": "../../etc/passwd",
    "long": "x" * 10_000,
}
#: route -> its query parameters (from OpenAPI); ``{customer}`` has one order.
LISTINGS = {
    "/products": ["q", "category", "sort", "cursor", "limit", "min_price", "in_stock"],
    "/orders": ["status", "customer_id", "cursor", "limit"],
    "/customers/{customer}/orders": ["cursor", "limit"],
    "/reports/low-stock": ["threshold", "limit"],
    "/reports/sales": ["from", "to"],
}
#: Answers whose rows exist whatever the payload, when the payload is refused as no filter.
ALWAYS_ROWS = {"/reports/low-stock"}


@pytest.fixture(scope="module")
def stack(servers: Servers) -> Iterator[Stack]:
    with running_stack(servers) as stack:
        stack.start_relay()
        stack.start_projectors()
        yield stack


@pytest.fixture(scope="module")
def customer(stack: Stack) -> str:
    email = f"inj-{uuid4().hex[:8]}@example.com"
    created = stack.commands.post(
        "/customers", json={"email": email, "name": "Inj", "password": PASSWORD}
    )
    assert created.status_code == 201, created.text
    product = stack.admin.post(
        "/products",
        json={"sku": f"I-{uuid4().hex[:8]}", "title": "Lamp", "category": "lighting", "price": 5},
    ).json()["id"]
    stack.admin.post(f"/products/{product}/stock", json={"delta": 3})
    published = stack.admin.post(f"/products/{product}/publish")
    order = stack.commands.post(
        "/orders",
        json={"lines": [{"product_id": product, "quantity": 1}]},
        headers={"Authorization": f"Bearer {login(stack.commands, email)}"},
    )
    assert order.status_code == 201, order.text
    seen = stack.admin_queries.get(
        f"/orders/{order.json()['id']}",
        headers={"X-Consistency-Token": order.headers["X-Consistency-Token"]},
    )
    assert seen.status_code == 200 and published.status_code == 200
    return str(created.json()["id"])


@pytest.mark.parametrize("route", [r for r in LISTINGS if r != "/reports/sales"])
def test_each_listing_has_rows_without_a_filter(stack: Stack, customer: str, route: str) -> None:
    """So an empty answer below is the filter's doing, not an empty store."""
    body = stack.admin_queries.get(route.format(customer=customer)).json()
    rows = body["items"] if isinstance(body, dict) and "items" in body else body
    assert rows, (route, body)


@pytest.mark.parametrize("payload", list(PAYLOADS), ids=str)
@pytest.mark.parametrize(
    ("route", "parameter"),
    [(route, p) for route, params in LISTINGS.items() for p in params],
    ids=str,
)
def test_a_payload_in_a_parameter_is_refused_or_finds_nothing(
    stack: Stack, customer: str, route: str, parameter: str, payload: str
) -> None:
    url = route.format(customer=customer)
    answer = stack.admin_queries.get(url, params={parameter: PAYLOADS[payload]})
    assert answer.status_code < 500, answer.text
    if answer.status_code >= 400:
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["code"], answer.text
        return
    assert answer.status_code == 200, answer.text
    body = answer.json()
    rows = body["items"] if isinstance(body, dict) and "items" in body else body
    if route not in ALWAYS_ROWS:
        assert rows == [], (parameter, payload, rows)
