"""PostgreSQL's connection cut around a command's COMMIT (a proxy between the command
API and the server cuts it): the client gets a 503 with Retry-After, never a 500 and
never a wrong answer; retrying with the same Idempotency-Key gives the one result, and
the command's events are stored exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest

from tests.support.events import events_mentioning
from tests.support.pg_proxy import SYNC, Moment, PgProxy
from tests.support.stack import Servers, Stack, running_stack


@pytest.fixture
def stack(database_url: str, servers: Servers) -> Iterator[tuple[Stack, PgProxy]]:
    proxy = PgProxy(database_url)
    try:
        with running_stack(Servers(proxy.url, servers.kafka_bootstrap_servers)) as stack:
            yield stack, proxy
    finally:
        proxy.close()


def create(stack: Stack, sku: str, key: str) -> tuple[int, dict[str, str], dict[str, object]]:
    answer = stack.admin.post(
        "/products",
        json={"sku": sku, "title": "Dropped", "price": 100},
        headers={"Idempotency-Key": key},
    )
    return answer.status_code, dict(answer.headers), answer.json()


@pytest.mark.parametrize("moment", ["before", "after"])
def test_a_keyed_command_cut_at_commit_is_a_503_and_its_retry_the_one_result(
    stack: tuple[Stack, PgProxy], moment: Moment
) -> None:
    shop, proxy = stack
    control = f"C-{uuid4().hex[:10].upper()}"
    assert create(shop, control, uuid4().hex)[0] == 201
    per_create = events_mentioning(shop.settings, control)  # the product and its SKU's claim

    sku, key = f"D-{uuid4().hex[:10].upper()}", uuid4().hex
    proxy.drop(moment, key.encode())
    status, headers, problem = create(shop, sku, key)
    assert proxy.dropped == [moment], "the proxy cut this command's COMMIT"
    assert status == 503, problem
    assert headers["retry-after"] and problem["code"]
    committed = events_mentioning(shop.settings, sku)
    assert committed == (per_create if moment == "after" else 0)

    status, _, first = create(shop, sku, key)
    assert status == 201, first
    status, _, again = create(shop, sku, key)
    assert (status, again["id"]) == (201, first["id"])
    assert events_mentioning(shop.settings, sku) == per_create, "stored once, whatever the cut"


def test_an_unkeyed_command_cut_after_commit_is_a_503_and_ran_once(
    stack: tuple[Stack, PgProxy],
) -> None:
    """The library's own retry of a write whose connection died re-inserted it, hit the
    committed copy, and answered 409 for a command that had been applied."""
    shop, proxy = stack
    product = shop.admin.post(
        "/products", json={"sku": f"U-{uuid4().hex[:8]}", "title": "Once", "price": 5}
    ).json()["id"]
    reason = f"recount-{uuid4().hex}"
    # The event's state goes over the wire as bytea in the text form of a composite: hex.
    # An unkeyed command's events append in one statement, committed at its Sync.
    proxy.drop("after", reason.encode().hex().encode(), at=SYNC)
    answer = shop.admin.post(f"/products/{product}/stock", json={"delta": 4, "reason": reason})
    assert proxy.dropped == ["after"]
    assert answer.status_code == 503, answer.text
    assert events_mentioning(shop.settings, reason) == 1, "applied once, and said to be unknown"
    app: Any = shop.commands.app
    assert app.state.shop.get_product(product).on_hand == 4
