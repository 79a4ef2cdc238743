"""Schemathesis sends what each API's OpenAPI allows, and much it does not: never a 5xx.

Every operation of both APIs, anonymous and as an admin, on real PostgreSQL (DESIGN.md §4.9).
A 503 would be an outage, not a client's doing; none is expected here either.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Ok

from tests.support.stack import Servers, Stack, running_stack

_FORWARDED = ("headers", "params", "json", "content", "data", "files")  # no cookies: unused


@pytest.fixture(scope="module")
def stack(servers: Servers) -> Iterator[Stack]:
    with running_stack(servers) as stack:
        yield stack


def operations(client: TestClient) -> list[Any]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    found = list(schema.get_all_operations())
    assert all(isinstance(result, Ok) for result in found), found  # the schema itself is valid
    return [result.ok() for result in found if isinstance(result, Ok)]


def fuzz(client: TestClient, operation: Any, admin: str) -> int:
    """Send generated cases for one operation, anonymous and as an admin; count them."""
    sent = 0

    @settings(
        max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    @given(case=operation.as_strategy())
    def send(case: Any) -> None:
        nonlocal sent
        for headers in ({}, {"Authorization": admin}):
            kwargs = case.as_transport_kwargs(headers=headers)
            response = client.request(
                kwargs["method"],
                kwargs["url"].removeprefix(str(client.base_url)),
                **{k: v for k, v in kwargs.items() if k in _FORWARDED},
            )
            sent += 1
            assert response.status_code < 500, (operation.label, response.text)

    send()
    return sent


@pytest.mark.parametrize("api", ["commands", "queries"])
def test_no_request_causes_a_server_error(stack: Stack, api: str) -> None:
    client: TestClient = getattr(stack, api)
    admin = stack.admin.headers["Authorization"]
    sent = sum(fuzz(client, operation, admin) for operation in operations(client))
    assert sent > 100
