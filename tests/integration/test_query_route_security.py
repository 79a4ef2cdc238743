"""Every route of the query API refuses broken tokens (guarantee 10, docs/architecture.md).

Routes come from the app's own OpenAPI document. Each broken token is valid in every
respect but one (tests/support/tokens.py); the unbroken one is accepted. The catalog
serves anonymous clients too, so there a missing token is no error, but a broken one is.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from http_edge.tokens import DEV_SECRET, TokenSettings
from read_side.http.app import create_query_app
from tests.support.stack import Servers, Stack, running_stack
from tests.support.tokens import BAD_TOKENS, concrete, forged_token

OPENAPI: dict[str, Any] = create_query_app(
    read_database_url="postgresql://nobody@/nowhere", schema="rm", tokens=TokenSettings(DEV_SECRET)
).openapi()
PROTECTED = [
    (method.upper(), path)
    for path, item in OPENAPI["paths"].items()
    for method, operation in item.items()
    if operation.get("security")
]
ANONYMOUS_TOO = {
    ("GET", "/products"),
    ("GET", "/products/categories"),
    ("GET", "/products/{product_id}"),
}


@pytest.fixture(scope="module")
def stack(servers: Servers) -> Iterator[Stack]:
    with running_stack(servers) as stack:
        yield stack


def test_the_swept_routes_are_every_route_but_the_probes_and_the_published_topics() -> None:
    assert {p for _, p in PROTECTED} == set(OPENAPI["paths"]) - {
        "/healthz",
        "/readyz",
        "/asyncapi.json",
    }


def test_the_unbroken_forged_token_is_an_admin_here(stack: Stack) -> None:
    answer = stack.queries.get("/orders", headers={"Authorization": f"Bearer {forged_token()}"})
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize(("method", "path"), PROTECTED, ids=" ".join)
@pytest.mark.parametrize("kind", list(BAD_TOKENS))
def test_every_query_route_is_401_with_a_broken_token(
    stack: Stack, method: str, path: str, kind: str
) -> None:
    token = BAD_TOKENS[kind]()
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    response = stack.queries.request(method, concrete(path), headers=headers)
    if token is None and (method, path) in ANONYMOUS_TOO:
        assert response.status_code in (200, 404), response.text  # an anonymous shopper
        return
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.headers["content-type"] == "application/problem+json"
