"""Customers see and change only their own data: anyone else's is 404 on both APIs (guarantee
10, docs/architecture.md).

Random (caller, owner, resource) pairs over real read models: for someone else's
customer, order or order list the answer is 404, never 403 or 200 (so it does not even
confirm the resource exists); for the owner, the same request succeeds (or, for a
mutation sent with a stale If-Match, is 412 — it got past the ownership check).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from tests.support.stack import PASSWORD, Servers, Stack, login, running_stack

TOKEN = "X-Consistency-Token"
STALE = {"If-Match": '"999999"'}  # mutations stop at 412 for the owner: nothing changes


@dataclass(frozen=True)
class Owner:
    customer_id: str
    order_id: str
    auth: dict[str, str]


@pytest.fixture(scope="module")
def world(servers: Servers) -> Iterator[tuple[Stack, list[Owner], dict[str, str]]]:
    with running_stack(servers) as stack:
        stack.start_relay()
        stack.start_projectors("customers", "orders")
        product = stack.admin.post(
            "/products", json={"sku": f"O-{uuid4().hex[:8]}", "title": "Own", "price": 10}
        ).json()["id"]
        stack.admin.post(f"/products/{product}/stock", json={"delta": 100})
        stack.admin.post(f"/products/{product}/publish")
        owners, token = [], ""
        for n in range(4):
            email = f"own-{n}-{uuid4().hex[:8]}@example.com"
            created = stack.commands.post(
                "/customers", json={"email": email, "name": f"O{n}", "password": PASSWORD}
            )
            auth = {"Authorization": f"Bearer {login(stack.commands, email)}"}
            order = stack.commands.post(
                "/orders", json={"lines": [{"product_id": product, "quantity": 1}]}, headers=auth
            )
            assert order.status_code == 201, order.text
            owners.append(Owner(created.json()["id"], order.json()["id"], auth))
            token = order.headers[TOKEN]
        yield stack, owners, {TOKEN: token}


def _query(
    stack: Stack, kind: str, owner: Owner, auth: dict[str, str], token: dict[str, str]
) -> int:
    path = {
        "customer": f"/customers/{owner.customer_id}",
        "order": f"/orders/{owner.order_id}",
        "orders": f"/customers/{owner.customer_id}/orders",
    }[kind]
    return int(stack.queries.get(path, headers={**auth, **token}).status_code)


def _command(stack: Stack, kind: str, owner: Owner, auth: dict[str, str]) -> int:
    headers = {**auth, **STALE}
    if kind == "customer":
        response = stack.commands.patch(
            f"/customers/{owner.customer_id}", json={"name": "X"}, headers=headers
        )
    elif kind == "order":
        response = stack.commands.post(f"/orders/{owner.order_id}/cancel", headers=headers)
    else:
        response = stack.commands.post(
            f"/orders/{owner.order_id}/pay", json={"payment_token": "tok_ok"}, headers=headers
        )
    return int(response.status_code)


@seed(1202)
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    caller=st.integers(0, 3),
    owner=st.integers(0, 3),
    kind=st.sampled_from(["customer", "order", "orders"]),
)
def test_someone_elses_customer_order_or_orders_are_404_on_both_apis(
    world: tuple[Stack, list[Owner], dict[str, str]], caller: int, owner: int, kind: str
) -> None:
    stack, owners, token = world
    auth, resource = owners[caller].auth, owners[owner]
    query_status = _query(stack, kind, resource, auth, token)
    command_status = _command(stack, kind, resource, auth)
    if caller == owner:
        assert (query_status, command_status) == (200, 412)
    else:
        assert (query_status, command_status) == (404, 404)
