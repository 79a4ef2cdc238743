"""Bad input is a 4xx problem body, never a 5xx, on real PostgreSQL (docs/architecture.md,
guarantee 9). What the command API refuses before touching the store is in
tests/unit/test_command_input.py (no server)."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import uuid4

import pytest

from tests.support.problems import assert_problem, product
from tests.support.stack import PASSWORD, Servers, Stack, running_stack


@pytest.fixture(scope="module")
def stack(servers: Servers) -> Iterator[Stack]:
    with running_stack(servers) as stack:
        yield stack


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


@pytest.mark.parametrize(
    "body",
    [
        "[" * 20_000 + "]" * 20_000,
        '{"a":' * 20_000 + "1" + "}" * 20_000,
        '{"sku": ' + "[" * 20_000 + "]" * 20_000 + "}",
    ],
    ids=["arrays", "objects", "inside a field"],
)
def test_a_body_nested_20000_deep_is_a_4xx_in_bounded_memory(stack: Stack, body: str) -> None:
    """Deep nesting must not exhaust the stack or the heap: a clear 4xx, and the whole
    request allocates a few megabytes at most (traced across threads)."""
    tracemalloc.start()
    try:
        answer = stack.admin.post(
            "/products", content=body, headers={"Content-Type": "application/json"}
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert 400 <= answer.status_code < 500, answer.text[:200]
    assert answer.headers["content-type"] == "application/problem+json"
    assert peak < 32 * 1024 * 1024, peak
