"""Bad input is a 4xx problem body, never a 5xx, on real PostgreSQL (docs/architecture.md,
guarantee 9)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import uuid4

import pytest
from httpx2 import Response

from tests.support.stack import PASSWORD, Servers, Stack, running_stack


@pytest.fixture(scope="module")
def stack(servers: Servers) -> Iterator[Stack]:
    with running_stack(servers) as stack:
        yield stack


def assert_problem(response: Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["title"]
    return body


def product(**overrides: Any) -> dict[str, Any]:
    return {"sku": f"SKU-{uuid4().hex[:8]}", "title": "Lamp", "price": 4500, **overrides}


def test_malformed_json_is_400(stack: Stack) -> None:
    response = stack.commands.post(
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
    ],
)
def test_invalid_bodies_are_422_with_the_failing_fields(stack: Stack, path: str, body: Any) -> None:
    # As an admin, so that authorization is not what refuses the request.
    problem = assert_problem(stack.admin.post(path, json=body), 422, "VALIDATION_FAILED")
    assert problem["errors"]


def test_a_duplicate_email_is_409(stack: Stack) -> None:
    email = f"dup-{uuid4().hex[:8]}@example.com"
    assert (
        stack.commands.post(
            "/customers", json={"email": email, "name": "A", "password": PASSWORD}
        ).status_code
        == 201
    )
    again = stack.commands.post(
        "/customers", json={"email": email.upper(), "name": "B", "password": PASSWORD}
    )
    assert_problem(again, 409, "EMAIL_TAKEN")


def test_a_duplicate_sku_is_409(stack: Stack) -> None:
    body = product()
    assert stack.admin.post("/products", json=body).status_code == 201
    assert_problem(stack.admin.post("/products", json=body), 409, "SKU_TAKEN")


def test_racing_registrations_of_one_email_let_exactly_one_win(stack: Stack) -> None:
    email = f"race-{uuid4().hex[:8]}@example.com"

    def register(n: int) -> int:
        return stack.commands.post(
            "/customers", json={"email": email, "name": f"N{n}", "password": PASSWORD}
        ).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(register, range(16)))
    assert sorted(statuses) == [201] + [409] * 15


def test_unknown_ids_are_404(stack: Stack) -> None:
    missing = uuid4()
    assert_problem(
        stack.admin.post(f"/products/{missing}/stock", json={"delta": 1}), 404, "NOT_FOUND"
    )
    assert_problem(stack.admin_queries.get(f"/customers/{missing}"), 404, "NOT_FOUND")
    assert_problem(stack.queries.get(f"/products/{missing}"), 404, "NOT_FOUND")
    assert_problem(stack.commands.get("/nowhere"), 404, "NOT_FOUND")


def test_a_customer_id_is_not_a_product(stack: Stack) -> None:
    email = f"c-{uuid4().hex[:8]}@example.com"
    customer_id = stack.commands.post(
        "/customers", json={"email": email, "name": "A", "password": PASSWORD}
    ).json()["id"]
    assert_problem(
        stack.admin.post(f"/products/{customer_id}/stock", json={"delta": 1}), 404, "NOT_FOUND"
    )


def test_ids_that_are_not_uuids_are_422(stack: Stack) -> None:
    assert_problem(stack.queries.get("/products/42"), 422, "VALIDATION_FAILED")
    assert_problem(
        stack.admin.post("/products/42/stock", json={"delta": 1}), 422, "VALIDATION_FAILED"
    )


def test_stock_cannot_go_negative(stack: Stack) -> None:
    product_id = stack.admin.post("/products", json=product()).json()["id"]
    stack.admin.post(f"/products/{product_id}/stock", json={"delta": 3})
    problem = assert_problem(
        stack.admin.post(f"/products/{product_id}/stock", json={"delta": -4}),
        409,
        "INSUFFICIENT_STOCK",
    )
    assert "3" in problem["detail"]
    assert_problem(
        stack.admin.post(f"/products/{product_id}/stock", json={"delta": 0}),
        422,
        "INVALID_VALUE",
    )


@pytest.mark.parametrize("token", ["garbage", "v1.e30", "v1." + "A" * 100, "v1.W1siYSIsLTEsMV1d"])
def test_a_garbage_consistency_token_is_400(stack: Stack, token: str) -> None:
    response = stack.queries.get("/products", headers={"X-Consistency-Token": token})
    assert_problem(response, 400, "INVALID_CONSISTENCY_TOKEN")


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 101}, {"limit": "x"}, {"cursor": "%%%"}, {"cursor": "QQ"}]
)
def test_bad_paging_parameters_are_422(stack: Stack, params: dict[str, Any]) -> None:
    response = stack.queries.get("/products", params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


def test_nul_characters_are_refused_not_stored(stack: Stack) -> None:
    body = {"email": f"n-{uuid4().hex[:6]}@example.com", "name": "Nu\u0000ll", "password": PASSWORD}
    assert_problem(stack.commands.post("/customers", json=body), 422, "VALIDATION_FAILED")
    assert_problem(
        stack.admin.post("/products", json=product(title="a\u0000b")), 422, "VALIDATION_FAILED"
    )
    for params in ({"q": "\u0000"}, {"category": "a\u0000b"}, {"cursor": "\u0000"}):
        assert_problem(stack.queries.get("/products", params=params), 400, "BAD_REQUEST")
