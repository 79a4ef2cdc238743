"""What the command API refuses, on in-memory persistence: no server needed.

Validation, domain rules and their problem bodies happen before (or instead of) a write,
so the library's in-memory store shows them as well as PostgreSQL does; what needs the
real server (races, idempotency, the query API) is in tests/integration/test_bad_input.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent
from fastapi.testclient import TestClient

from http_edge.tokens import TokenSettings
from tests.support.credentials import PASSWORD, TEST_SECRET, login
from tests.support.problems import assert_problem, product
from write_side.application.passwords import Argon2Passwords, HashCost
from write_side.application.shop import Shop
from write_side.http.app import create_command_app


@dataclass
class Api:
    anonymous: TestClient
    admin: TestClient


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    shop = Shop(passwords=Argon2Passwords(HashCost(1, 8, 1)), token_key=b"k" * 32)
    shop.register_customer(email="admin@example.com", name="A", password=PASSWORD, role="admin")
    app = create_command_app(shop, TokenSettings(secret=TEST_SECRET))
    with TestClient(app) as anonymous, TestClient(app) as admin:
        admin.headers["Authorization"] = f"Bearer {login(anonymous, 'admin@example.com')}"
        yield Api(anonymous, admin)


def test_malformed_json_is_400(api: Api) -> None:
    response = api.anonymous.post(
        "/customers", content=b'{"email": ', headers={"content-type": "application/json"}
    )
    assert_problem(response, 400, "MALFORMED_JSON")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/customers", {}),
        ("/customers", {"email": "x@y.z"}),
        ("/customers", {"email": "not-an-email", "name": "A", "password": PASSWORD}),
        ("/customers", {"email": "a@b.c", "name": "", "password": PASSWORD}),
        ("/customers", {"email": "a@b.c", "name": "A", "password": "short"}),
        ("/customers", {"email": "a@b.c", "name": "A"}),
        ("/customers", {"email": "a@b.c", "name": "A" * 201, "password": PASSWORD}),
        ("/customers", {"email": "a@b.c", "name": "A", "password": PASSWORD, "role": "admin"}),
        ("/customers", [1, 2, 3]),
        ("/products", product(price=-1)),
        ("/products", product(price=19.99)),
        ("/products", product(price="100")),
        ("/products", product(price=10**13)),
        ("/products", product(sku="has space")),
        ("/products", {"title": "no sku", "price": 1}),
        ("/products", product(categories=[])),
        ("/products", product(categories=[f"c{n}" for n in range(11)])),
        ("/products", product(categories=["ok", "  "])),
        ("/products", product(categories=["x" * 101])),
        ("/products", product(categories="kitchen")),
        ("/products", product(categories=["a\u0000b"])),
        ("/products", product(categories=["kitchen"], category="kitchen")),
    ],
)
def test_invalid_bodies_are_422_with_the_failing_fields(api: Api, path: str, body: Any) -> None:
    # As an admin, so that authorization is not what refuses the request.
    problem = assert_problem(api.admin.post(path, json=body), 422, "VALIDATION_FAILED")
    assert problem["errors"]


def test_categories_are_normalized_and_the_one_category_still_accepted(api: Api) -> None:
    created = api.admin.post("/products", json=product(categories=[" Kitchen  Tools", "gifts"]))
    assert created.status_code == 201, created.text
    repeated = [*(f"C{n}" for n in range(8)), "c0", " C1 "]  # ten sent, eight kept
    assert api.admin.post("/products", json=product(categories=repeated)).is_success
    product_id = api.admin.post("/products", json=product(category="Lighting")).json()["id"]
    # The deprecated field in a change, and "" for none, as a v1 client sends them.
    changed = api.admin.patch(f"/products/{product_id}", json={"category": ""})
    assert changed.json()["version"] == 2
    unchanged = api.admin.patch(f"/products/{product_id}", json={"categories": ["LIGHTING"]})
    assert unchanged.json()["version"] == 3  # back to one label
    assert_problem(
        api.admin.patch(f"/products/{product_id}", json={"categories": ["a", "b"], "category": ""}),
        422,
        "VALIDATION_FAILED",
    )


def test_a_duplicate_sku_is_409(api: Api) -> None:
    body = product()
    assert api.admin.post("/products", json=body).status_code == 201
    assert_problem(api.admin.post("/products", json=body), 409, "SKU_TAKEN")


def test_stock_cannot_go_negative(api: Api) -> None:
    product_id = api.admin.post("/products", json=product()).json()["id"]
    api.admin.post(f"/products/{product_id}/stock", json={"delta": 3})
    problem = assert_problem(
        api.admin.post(f"/products/{product_id}/stock", json={"delta": -4}),
        409,
        "INSUFFICIENT_STOCK",
    )
    assert "3" in problem["detail"]
    assert_problem(
        api.admin.post(f"/products/{product_id}/stock", json={"delta": 0}),
        422,
        "INVALID_VALUE",
    )


def test_a_resource_a_newer_release_changed_is_503_needs_upgrade() -> None:
    """A rolling deploy: a newer instance stored a schema version this release cannot read;
    this instance answers 503 with Retry-After (the retry may reach a new instance), not 500."""
    shop = Shop(passwords=Argon2Passwords(HashCost(1, 8, 1)), token_key=b"k" * 32)
    shop.register_customer(email="admin@example.com", name="A", password=PASSWORD, role="admin")
    app = create_command_app(shop, TokenSettings(secret=TEST_SECRET))
    with TestClient(app) as admin:
        admin.headers["Authorization"] = f"Bearer {login(admin, 'admin@example.com')}"
        product_id = admin.post("/products", json=product()).json()["id"]
        newer = StoredEvent(UUID(product_id), 2, "ProductPriceChanged.v9", b'{"price": 1}')
        shop.recorder.insert_events([newer])
        answer = admin.patch(f"/products/{product_id}", json={"price": 5})
        assert_problem(answer, 503, "NEEDS_UPGRADE")
        assert answer.headers["Retry-After"] == "1"
