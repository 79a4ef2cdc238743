"""Every protected command route refuses missing and bad tokens; OpenAPI documents it all.

Routes come from the app's own OpenAPI document, so a new route is covered the day it
is added (and must be placed in one of the sets below).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest

from http_edge.tokens import DEV_SECRET, TokenSettings
from tests.support.stack import PASSWORD, Servers, Stack, login, running_stack
from tests.support.tokens import BAD_TOKENS, concrete, forged_token
from write_side.application.shop import Shop
from write_side.http.app import create_command_app

OPENAPI: dict[str, Any] = create_command_app(Shop(), TokenSettings(DEV_SECRET)).openapi()
OPERATIONS = [
    (method.upper(), path, operation)
    for path, item in OPENAPI["paths"].items()
    for method, operation in item.items()
]
PROTECTED = [(m, p) for m, p, op in OPERATIONS if op.get("security")]
ADMIN_ONLY = {
    ("POST", "/products"),
    ("PATCH", "/products/{product_id}"),
    ("POST", "/products/{product_id}/publish"),
    ("POST", "/products/{product_id}/archive"),
    ("POST", "/products/{product_id}/stock"),
    ("POST", "/orders/{order_id}/ship"),
    ("GET", "/customers/{customer_id}/erasure"),
}
FOR_CUSTOMERS = {
    ("PATCH", "/customers/{customer_id}"),
    ("DELETE", "/customers/{customer_id}"),
    ("POST", "/orders"),
    ("POST", "/orders/{order_id}/pay"),
    ("POST", "/orders/{order_id}/cancel"),
}


@pytest.fixture(scope="module")
def stack(servers: Servers) -> Iterator[Stack]:
    with running_stack(servers) as stack:
        yield stack


def test_the_protected_routes_are_exactly_the_admin_and_customer_ones() -> None:
    assert set(PROTECTED) == ADMIN_ONLY | FOR_CUSTOMERS


def test_the_forged_tokens_are_accepted_when_unbroken(stack: Stack) -> None:
    """The sweep below breaks one claim at a time of a token this server accepts."""
    body = {"sku": f"V-{uuid4().hex[:8]}", "title": "Valid", "price": 1}
    answer = stack.commands.post(
        "/products", json=body, headers={"Authorization": f"Bearer {forged_token()}"}
    )
    assert answer.status_code == 201, answer.text


@pytest.mark.parametrize(("method", "path"), PROTECTED, ids=" ".join)
@pytest.mark.parametrize("kind", list(BAD_TOKENS))
def test_every_protected_route_is_401_without_a_valid_token(
    stack: Stack, method: str, path: str, kind: str
) -> None:
    token = BAD_TOKENS[kind]()
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    response = stack.commands.request(method, concrete(path), json={}, headers=headers)
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "path"), sorted(ADMIN_ONLY), ids=" ".join)
def test_admin_routes_are_403_for_customers(stack: Stack, method: str, path: str) -> None:
    email = f"s-{uuid4().hex[:8]}@example.com"
    stack.commands.post("/customers", json={"email": email, "name": "S", "password": PASSWORD})
    response = stack.commands.request(
        method,
        concrete(path),
        json={},
        headers={"Authorization": f"Bearer {login(stack.commands, email)}"},
    )
    assert response.status_code == 403, response.text


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=lambda x: str(x)[:40])
def test_openapi_documents_the_statuses_a_route_can_return(
    method: str, path: str, operation: dict[str, Any]
) -> None:
    documented = {int(code) for code in operation["responses"]}
    has_path_params = "{" in path
    expected = set()
    if path != "/healthz":
        expected.add(503)
    if "requestBody" in operation or has_path_params:
        expected |= {400, 422}
    if method in ("POST", "PATCH"):
        expected.add(413)  # the body-size limit applies to every mutation
    if (method, path) in PROTECTED:
        expected.add(401)
    if (method, path) in ADMIN_ONLY:
        expected.add(403)
    if has_path_params:
        expected.add(404)
    if has_path_params and method != "GET":  # a read neither conflicts nor has If-Match
        expected |= {409, 412}
    assert expected <= documented, f"undocumented: {sorted(expected - documented)}"


def test_metrics_are_not_served_on_either_public_port(stack: Stack) -> None:
    """Counters tell an attacker what the shop does: they go to the probe ports only."""
    for client in (stack.commands, stack.queries, stack.admin):
        for path in ("/metrics", "/metrics/"):
            answer = client.get(path)
            assert answer.status_code == 404, (path, answer.text)
            assert "eventshop_http_requests_total" not in answer.text


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}


def test_both_apis_send_security_headers_and_keep_private_answers_out_of_caches(
    stack: Stack,
) -> None:
    answers = {
        "query, anonymous": stack.queries.get("/products"),
        "query, admin": stack.admin_queries.get("/products"),
        "query, 404": stack.queries.get(f"/products/{uuid4()}"),
        "command, 401": stack.commands.post("/products", json={}),
        "command, admin": stack.admin.post(
            "/products", json={"sku": f"H-{uuid4().hex[:8]}", "title": "H", "price": 1}
        ),
    }
    for name, answer in answers.items():
        for header, value in SECURITY_HEADERS.items():
            assert answer.headers.get(header) == value, (name, header)
    # The public catalog is for any cache (docs/operations.md, "HTTP caching"); the rest not.
    assert answers["query, anonymous"].headers["Cache-Control"].startswith("public, max-age=")
    for name in ("query, admin", "command, 401", "command, admin"):
        assert answers[name].headers["Cache-Control"] == "no-store", name
