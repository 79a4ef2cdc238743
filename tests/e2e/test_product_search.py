"""Product search, filters, sorts and pages through the query API, built by the projector."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import orjson
import pytest

from tests.support.stack import Servers, Stack, running_stack

TOKEN = "X-Consistency-Token"
CATALOG = [
    # title, description, categories, price, stock, published
    ("Red wooden chair", "A sturdy chair for the kitchen", ["furniture"], 4900, 3, True),
    ("Blue office chair", "Ergonomic, with wheels", ["Furniture", "office"], 12900, 0, True),
    ("Red kettle", "Boils water quickly", ["kitchen", "Gifts "], 2900, 10, True),
    ("Oak table", "Seats six; pairs with the wooden chair", ["furniture"], 39900, 1, True),
    ("Secret prototype chair", "Not for sale yet", ["furniture", "gifts"], 100, 5, False),
]


@pytest.fixture(scope="module")
def catalog(servers: Servers) -> Iterator[tuple[Stack, dict[str, str], dict[str, str]]]:
    with running_stack(servers) as stack:
        stack.start_relay()
        stack.start_projectors("products")
        ids, token = {}, ""
        for title, description, categories, price, stock, published in CATALOG:
            created = stack.admin.post(
                "/products",
                json={
                    "sku": f"S-{uuid4().hex[:8]}",
                    "title": title,
                    "description": description,
                    "categories": categories,
                    "price": price,
                },
            )
            product_id = created.json()["id"]
            if stock:
                stack.admin.post(f"/products/{product_id}/stock", json={"delta": stock})
            last = stack.admin.post(
                f"/products/{product_id}/{'publish' if published else 'archive'}"
            )
            ids[title] = product_id
            token = last.headers[TOKEN]
        yield stack, ids, {TOKEN: token}


def titles(stack: Stack, token: dict[str, str], **params: Any) -> list[str]:
    response = stack.queries.get("/products", params=params, headers=token)
    assert response.status_code == 200, response.text
    return [item["title"] for item in response.json()["items"]]


def test_search_ranks_by_relevance_and_hides_unpublished(catalog: Any) -> None:
    stack, _, token = catalog
    found = titles(stack, token, q="red chair")
    assert found[0] == "Red wooden chair"  # both words, one in the title
    assert "Secret prototype chair" not in titles(stack, token, q="chair")
    assert set(titles(stack, token, q="wooden")) == {"Red wooden chair", "Oak table"}


def test_filters_combine(catalog: Any) -> None:
    stack, _, token = catalog
    assert titles(stack, token, category="furniture", in_stock=True, sort="price") == [
        "Red wooden chair",
        "Oak table",
    ]
    assert titles(stack, token, min_price=3000, max_price=20000, sort="-price") == [
        "Blue office chair",
        "Red wooden chair",
    ]
    assert titles(stack, token, in_stock=False) == ["Blue office chair"]


def test_a_product_is_found_under_each_of_its_categories(catalog: Any) -> None:
    stack, ids, token = catalog
    assert titles(stack, token, category="kitchen") == ["Red kettle"]
    assert titles(stack, token, category="gifts") == ["Red kettle"]  # not the unpublished one
    assert titles(stack, token, category=" GIFTS") == ["Red kettle"]  # normalized like labels
    assert titles(stack, token, category="office") == ["Blue office chair"]
    assert titles(stack, token, q="gifts") == ["Red kettle"]  # labels are searched words
    kettle = stack.queries.get(f"/products/{ids['Red kettle']}", headers=token).json()
    assert (kettle["categories"], kettle["category"]) == (["kitchen", "gifts"], "kitchen")


def test_category_facets_count_the_labels_of_what_a_search_selects(catalog: Any) -> None:
    stack, _, token = catalog

    def facets(**params: Any) -> dict[str, int]:
        response = stack.queries.get("/products/categories", params=params, headers=token)
        assert response.status_code == 200, response.text
        return {f["category"]: f["products"] for f in response.json()["items"]}

    assert facets() == {"furniture": 3, "office": 1, "kitchen": 1, "gifts": 1}
    assert facets(q="chair") == {"furniture": 3, "office": 1}  # the table mentions a chair
    assert facets(q="kettle") == {"kitchen": 1, "gifts": 1}
    assert facets(category="office") == {"furniture": 1, "office": 1}
    assert facets(in_stock=True, max_price=5000) == {"furniture": 1, "kitchen": 1, "gifts": 1}
    admin = stack.admin_queries.get("/products/categories", headers=token).json()
    assert {f["category"]: f["products"] for f in admin["items"]}["gifts"] == 2  # + unpublished
    bad = stack.queries.get("/products/categories", params={"min_price": 9, "max_price": 1})
    assert bad.status_code == 422


def test_sorted_pages_walk_the_whole_list_once(catalog: Any) -> None:
    stack, _, token = catalog
    for sort in ("price", "-price", "title", "-units_sold"):
        everything = titles(stack, token, sort=sort, limit=100)
        seen: list[str] = []
        params: dict[str, Any] = {"sort": sort, "limit": 1}
        while True:
            page = stack.queries.get("/products", params=params, headers=token).json()
            seen += [item["title"] for item in page["items"]]
            if not page["next_cursor"]:
                break
            params["cursor"] = page["next_cursor"]
        assert seen == everything, sort
    assert titles(stack, token, sort="price") == sorted(
        titles(stack, token, sort="price"),
        key=lambda t: next(p for (tt, _, _, p, _, _) in CATALOG if tt == t),
    )


def test_admins_see_unpublished_products(catalog: Any) -> None:
    stack, ids, token = catalog
    listed = stack.admin_queries.get("/products", params={"q": "prototype"}, headers=token)
    assert [item["title"] for item in listed.json()["items"]] == ["Secret prototype chair"]
    assert stack.queries.get(f"/products/{ids['Secret prototype chair']}").status_code == 404


@pytest.mark.parametrize(
    "params",
    [
        {"sort": "relevance"},
        {"sort": "cheapest"},
        {"min_price": 10, "max_price": 5},
        {"min_price": -1},
        {"in_stock": "maybe"},
        {"q": ""},
        {"limit": 101},
        {"sort": "price", "cursor": "WyJ0aXRsZSIsIngiLCJ5Il0="},
    ],
)
def test_bad_filters_are_422(catalog: Any, params: dict[str, Any]) -> None:
    stack, _, _ = catalog
    response = stack.queries.get("/products", params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


def _b64(value: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode()


CRAFTED_CURSORS = [
    ({"sort": "price"}, _b64(["price", "abc", str(uuid4())])),
    ({}, _b64(["sku", "a", "x"])),
    ({"sort": "title"}, _b64(["title", 5, "x"])),
    ({"sort": "-units_sold"}, _b64(["-units_sold", "zz", str(uuid4())])),
    ({"sort": "price"}, _b64(["price", 2**63, str(uuid4())])),
]


@pytest.mark.parametrize(("params", "cursor"), CRAFTED_CURSORS)
def test_crafted_cursors_are_422_invalid_cursor(
    catalog: Any, params: dict[str, Any], cursor: str
) -> None:
    stack, _, _ = catalog
    response = stack.admin_queries.get("/products", params={**params, "cursor": cursor})
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "INVALID_CURSOR"


def test_a_cursor_works_as_issued_and_not_altered_or_moved_to_another_sort(catalog: Any) -> None:
    stack, _, token = catalog
    first = stack.queries.get("/products", params={"sort": "price", "limit": 1}, headers=token)
    cursor = first.json()["next_cursor"]
    follow = stack.queries.get("/products", params={"sort": "price", "limit": 1, "cursor": cursor})
    assert follow.status_code == 200, follow.text
    body, tag = cursor.split(".")
    raised = base64.urlsafe_b64encode(orjson.dumps(["price", 0, str(uuid4())])).rstrip(b"=")
    refused = [
        ({"sort": "price"}, f"{raised.decode()}.{tag}"),  # a new body under the old signature
        ({"sort": "title"}, cursor),  # a price cursor on a title sort
        ({"sort": "price"}, body),  # the body without its signature
    ]
    for params, bad in refused:
        response = stack.queries.get("/products", params={**params, "cursor": bad})
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["code"] == "INVALID_CURSOR"


def test_crafted_order_cursors_are_422(catalog: Any) -> None:
    stack, _, _ = catalog
    for cursor in (_b64(["2026-01-01T00:00:00+00:00", "x"]), "Zm9v.YmFy", "a" * 300):
        response = stack.admin_queries.get("/orders", params={"cursor": cursor})
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "INVALID_CURSOR"
