"""Concurrent conflicting commands and repeated commands, on real PostgreSQL (guarantees 5 and
6, docs/architecture.md)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import UUID, uuid4

import pytest

from eventshop import wiring
from tests.support.stack import PASSWORD, Servers, Stack, running_stack


@pytest.fixture(scope="module")
def stack(servers: Servers) -> Iterator[Stack]:
    with running_stack(servers) as stack:
        yield stack


def a_product(stack: Stack, on_hand: int = 0) -> str:
    body = {"sku": f"C-{uuid4().hex[:8]}", "title": "Chair", "price": 5000}
    product_id: str = stack.admin.post("/products", json=body).json()["id"]
    if on_hand:
        stack.admin.post(f"/products/{product_id}/stock", json={"delta": on_hand})
    return product_id


def events_of(stack: Stack, aggregate_id: str) -> int:
    rows = stack.sql("SELECT count(*) FROM {es}.shop_events WHERE originator_id = %s", aggregate_id)
    return int(rows[0][0])


def in_parallel(n: int, call: Any) -> list[Any]:
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(lambda _: call(), range(n)))


def test_the_same_key_sent_ten_times_at_once_appends_one_set_of_events(stack: Stack) -> None:
    product_id = a_product(stack)
    key = {"Idempotency-Key": str(uuid4())}
    responses = in_parallel(
        10,
        lambda: stack.admin.post(f"/products/{product_id}/stock", json={"delta": 3}, headers=key),
    )
    assert {r.status_code for r in responses} == {200}
    assert len({r.content for r in responses}) == 1  # byte for byte
    assert len({r.headers["X-Consistency-Token"] for r in responses}) == 1
    assert events_of(stack, product_id) == 2  # created, and one adjustment


def test_a_repeated_registration_returns_the_first_result(stack: Stack) -> None:
    body = {"email": f"i-{uuid4().hex[:8]}@example.com", "name": "Ida", "password": PASSWORD}
    key = {"Idempotency-Key": "register-ida-once"}
    first = stack.commands.post("/customers", json=body, headers=key)
    again = stack.commands.post(
        "/customers",
        content=b'{ "password": "%s", "name": "Ida", "email": "%s" }'
        % (PASSWORD.encode(), body["email"].encode()),
        headers={**key, "content-type": "application/json"},
    )  # the same request, spaced and ordered differently
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.content == again.content
    assert again.headers["Location"] == first.headers["Location"]
    assert events_of(stack, first.json()["id"]) == 1


def test_the_same_key_with_a_different_body_is_422(stack: Stack) -> None:
    product_id = a_product(stack)
    key = {"Idempotency-Key": str(uuid4())}
    assert (
        stack.admin.post(
            f"/products/{product_id}/stock", json={"delta": 1}, headers=key
        ).status_code
        == 200
    )
    reused = stack.admin.post(f"/products/{product_id}/stock", json={"delta": 2}, headers=key)
    assert reused.status_code == 422
    assert reused.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert events_of(stack, product_id) == 2


def test_keys_belong_to_their_sender(stack: Stack) -> None:
    key = {"Idempotency-Key": "shared-key"}
    email = f"k-{uuid4().hex[:8]}@example.com"
    anonymous = stack.commands.post(
        "/customers", json={"email": email, "name": "K", "password": PASSWORD}, headers=key
    )
    as_admin = stack.admin.post(
        "/customers", json={"email": email, "name": "K", "password": PASSWORD}, headers=key
    )
    assert anonymous.status_code == 201
    assert as_admin.status_code == 409  # a new command for the admin: the email is taken


def test_twenty_commands_with_the_same_if_match_let_exactly_one_through(stack: Stack) -> None:
    product_id = a_product(stack, on_hand=10)  # version 2
    responses = in_parallel(
        20,
        lambda: stack.admin.post(
            f"/products/{product_id}/stock", json={"delta": -1}, headers={"If-Match": '"2"'}
        ),
    )
    statuses = Counter(r.status_code for r in responses)
    assert statuses[200] == 1
    assert set(statuses) <= {200, 409, 412}
    assert events_of(stack, product_id) == 3


def test_ten_creates_of_one_sku_at_once_make_one_product(stack: Stack) -> None:
    """The sku's claim is the guard (its first version can be saved once), not a look-up."""
    body = {"sku": f"ONE-{uuid4().hex[:8]}", "title": "Once", "price": 100}
    responses = in_parallel(10, lambda: stack.admin.post("/products", json=body))
    assert sorted(r.status_code for r in responses) == [201] + [409] * 9
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"SKU_TAKEN"}
    created = next(r.json()["id"] for r in responses if r.status_code == 201)
    assert events_of(stack, created) == 1
    again = stack.admin.post("/products", json=body)  # and later, one at a time
    assert (again.status_code, again.json()["code"]) == (409, "SKU_TAKEN")


def on_hand(stack: Stack, product_id: str) -> int:
    """Stock on hand as the write side knows it (the aggregate, from the event store)."""
    return stack.commands.app.state.shop.get_product(UUID(product_id)).on_hand  # type: ignore[attr-defined,no-any-return]


def test_concurrent_adjustments_never_lose_an_update(stack: Stack) -> None:
    product_id = a_product(stack, on_hand=5)
    responses = in_parallel(
        20, lambda: stack.admin.post(f"/products/{product_id}/stock", json={"delta": 1})
    )
    statuses = Counter(r.status_code for r in responses)
    # A stock change commutes: a lost race is re-run on the server, never refused.
    assert statuses == {200: 20}, [r.text for r in responses if r.status_code != 200]
    assert on_hand(stack, product_id) == 5 + 20  # every adjustment landed, once
    assert events_of(stack, product_id) == 2 + 20


def test_eight_concurrent_adjustments_without_if_match_all_succeed(stack: Stack) -> None:
    """A stock change commutes: one that loses the race is re-run on the server (as
    orders are), not refused. Each adjustment lands once."""
    product_id = a_product(stack)
    responses = in_parallel(
        8, lambda: stack.admin.post(f"/products/{product_id}/stock", json={"delta": 2})
    )
    assert [r.status_code for r in responses] == [200] * 8, [r.text for r in responses]
    assert events_of(stack, product_id) == 1 + 8


def test_a_stale_if_match_is_412_with_the_current_version(stack: Stack) -> None:
    product_id = a_product(stack, on_hand=5)
    stale = stack.admin.post(
        f"/products/{product_id}/stock", json={"delta": 1}, headers={"If-Match": '"1"'}
    )
    assert stale.status_code == 412
    assert stale.json()["code"] == "PRECONDITION_FAILED"
    assert stale.json()["current_version"] == 2
    fresh = stack.admin.post(
        f"/products/{product_id}/stock", json={"delta": 1}, headers={"If-Match": '"2"'}
    )
    assert fresh.status_code == 200
    assert fresh.headers["ETag"] == '"3"'


@pytest.mark.parametrize("value", ["abc", 'W/"2"', '"-1"', '"99999999999"'])
def test_a_malformed_if_match_is_400(stack: Stack, value: str) -> None:
    product_id = a_product(stack)
    response = stack.admin.post(
        f"/products/{product_id}/stock", json={"delta": 1}, headers={"If-Match": value}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_IF_MATCH"


@pytest.mark.parametrize("value", ["", "x" * 256, "with space", "tab\there"])
def test_a_malformed_idempotency_key_is_422(stack: Stack, value: str) -> None:
    product_id = a_product(stack)
    response = stack.admin.post(
        f"/products/{product_id}/stock", json={"delta": 1}, headers={"Idempotency-Key": value}
    )
    assert response.status_code == 422, response.text


def test_an_expired_key_is_a_new_request_and_the_sweep_deletes_expired_keys(
    servers: Servers,
) -> None:
    with running_stack(servers, idempotency_retention_seconds=1.0) as stack:
        product_id = a_product(stack)
        keys = [{"Idempotency-Key": f"expiring-{n}"} for n in range(5)]
        url, body = f"/products/{product_id}/stock", {"delta": 2}
        first = [stack.admin.post(url, json=body, headers=key) for key in keys]
        repeat = stack.admin.post(url, json=body, headers=keys[0])
        assert repeat.content == first[0].content  # within retention: the first result
        assert events_of(stack, product_id) == 1 + 5
        time.sleep(1.2)
        # Expired, not yet swept: sent again, it runs again (and the sweep keeps that row).
        again = stack.admin.post(url, json=body, headers=keys[0])
        assert again.status_code == 200 and again.json()["version"] == 7
        assert events_of(stack, product_id) == 1 + 6
        sweeper = wiring.payment_sweeper(stack.settings)
        try:
            assert sweeper.sweep_keys() == 4
        finally:
            sweeper.shop.close()
        rows = stack.sql("SELECT key FROM {es}.idempotency_keys WHERE key LIKE 'expiring-%%'")
        assert rows == [("expiring-0",)]


def test_expired_keys_are_deleted_in_small_batches(servers: Servers) -> None:
    with running_stack(servers, idempotency_retention_seconds=0.5) as stack:
        product_id = a_product(stack)
        for n in range(7):
            key = {"Idempotency-Key": f"batch-{n}"}
            stack.admin.post(f"/products/{product_id}/stock", json={"delta": 1}, headers=key)
        time.sleep(0.7)
        recorder = stack.admin.app.state.shop.recorder  # type: ignore[attr-defined]
        assert recorder.delete_expired(batch_size=3) == 7
        assert stack.sql("SELECT count(*) FROM {es}.idempotency_keys")[0][0] == 0
