"""RED metrics on the command API (in-memory persistence, no server): requests, errors and
latency per route template, in Prometheus form (on the worker's probe port)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from http_edge.tokens import TokenSettings
from tests.support.credentials import PASSWORD, TEST_SECRET
from tests.support.metrics import metrics_of
from write_side.application.passwords import Argon2Passwords, HashCost
from write_side.application.shop import Shop
from write_side.http.app import create_command_app


@pytest.fixture
def client() -> Iterator[TestClient]:
    shop = Shop(passwords=Argon2Passwords(HashCost(1, 8, 1)), token_key=b"k" * 32)
    with TestClient(create_command_app(shop, TokenSettings(secret=TEST_SECRET))) as client:
        yield client


def sample(metrics: str, name: str, **labels: str) -> float:
    """The value of the series ``name{labels…}`` (labels in any order), 0 when absent."""
    for line in metrics.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and all(f'{k}="{v}"' in match[1].split(",") for k, v in labels.items()):
            return float(match[2])
    return 0.0


def test_requests_are_counted_and_timed_by_route_template_method_and_status(
    client: TestClient,
) -> None:
    body = {"email": f"m-{uuid4().hex[:6]}@example.com", "name": "M", "password": PASSWORD}
    assert client.post("/customers", json=body).status_code == 201
    assert client.post("/customers", json=body).status_code == 409
    assert client.post(f"/orders/{uuid4()}/pay", json={"payment_token": "t"}).status_code == 401
    metrics = metrics_of(client)

    posts = {"api": "command", "method": "POST", "route": "/customers"}
    assert sample(metrics, "eventshop_http_requests_total", **posts, status="201") == 1
    assert sample(metrics, "eventshop_http_requests_total", **posts, status="409") == 1
    assert sample(metrics, "eventshop_http_request_duration_seconds_count", **posts) == 2
    assert (
        sample(metrics, "eventshop_http_request_duration_seconds_bucket", **posts, le="+Inf") == 2
    )
    # The template, never the id: one series however many orders there are.
    pay = {"route": "/orders/{order_id}/pay", "status": "401"}
    assert sample(metrics, "eventshop_http_requests_total", **pay) == 1
    assert sample(metrics, "eventshop_http_requests_in_flight", api="command") == 0
    assert "eventshop_http_requests_total" in metrics and "/metrics" not in re.findall(
        r'route="([^"]*)"', metrics
    )


def test_what_a_client_makes_up_cannot_grow_the_label_sets(client: TestClient) -> None:
    for n in range(5):
        client.get(f"/no/such/path/{n}")
        client.request("BREW", "/customers")
    metrics = metrics_of(client)
    routes = set(re.findall(r'eventshop_http_requests_total\{[^}]*route="([^"]*)"', metrics))
    assert routes <= {"<unmatched>", "/customers"}
    assert sample(metrics, "eventshop_http_requests_total", route="<unmatched>", status="404") == 5
    assert sample(metrics, "eventshop_http_requests_total", method="OTHER") == 5


def test_the_process_metrics_are_still_there(client: TestClient) -> None:
    metrics = metrics_of(client)
    assert "process_cpu_seconds_total" in metrics or "python_gc_objects_collected_total" in metrics
    assert "eventshop_payment_gateway_breaker_state" in metrics
