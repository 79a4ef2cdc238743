"""Schemathesis sends what each API's OpenAPI allows, and much it does not: never a 5xx.

Every operation of both APIs, anonymous, as a customer and as an admin, on real
PostgreSQL (docs/architecture.md, guarantee 9). Each answer must also conform to the
document: a status it lists, the body schema and content type it declares. A 503 would
be an outage, not a client's doing; none is expected here either. The seed is fixed, so
a failure found here is found again on the next run.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, seed, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Ok

from tests.support.stack import PASSWORD, Servers, Stack, login, running_stack

_FORWARDED = ("headers", "params", "json", "content", "data", "files")  # no cookies: unused
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
]
SEED = 20261202
# psycopg_pool's worker threads jitter new connections' lifetimes with the global `random`;
# when one opens while Hypothesis draws a case, Hypothesis takes it for the strategy's own
# use of `random` and warns. Our strategies (schemathesis') use none.
pytestmark = pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies")


@pytest.fixture(scope="module")
def stack(servers: Servers) -> Iterator[Stack]:
    with running_stack(servers) as stack:
        yield stack


def operations(client: TestClient) -> list[Any]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    found = list(schema.get_all_operations())
    assert all(isinstance(result, Ok) for result in found), found  # the schema itself is valid
    return [result.ok() for result in found if isinstance(result, Ok)]


def fuzz(client: TestClient, operation: Any, callers: list[dict[str, str]]) -> int:
    """Send generated cases for one operation as each caller; count them."""
    sent = 0

    @seed(SEED)
    @settings(
        max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    @given(case=operation.as_strategy())
    def send(case: Any) -> None:
        nonlocal sent
        for headers in callers:
            kwargs = case.as_transport_kwargs(headers=headers)
            response = client.request(
                kwargs["method"],
                kwargs["url"].removeprefix(str(client.base_url)),
                **{k: v for k, v in kwargs.items() if k in _FORWARDED},
            )
            sent += 1
            assert response.status_code < 500, (operation.label, response.text)
            case.validate_response(response, checks=CHECKS, headers=kwargs.get("headers"))

    send()
    return sent


@pytest.mark.parametrize("api", ["commands", "queries"])
def test_no_request_causes_a_server_error(stack: Stack, api: str) -> None:
    client: TestClient = getattr(stack, api)
    email = f"fuzz-{uuid4().hex[:8]}@example.com"
    registered = stack.commands.post(
        "/customers", json={"email": email, "name": "Fuzz", "password": PASSWORD}
    )
    assert registered.status_code == 201
    callers = [
        {},
        {"Authorization": f"Bearer {login(stack.commands, email)}"},
        {"Authorization": stack.admin.headers["Authorization"]},
    ]
    sent = sum(fuzz(client, operation, callers) for operation in operations(client))
    assert sent > 100
