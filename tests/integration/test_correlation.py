"""Following one request: its id is echoed, stored with the events it causes, carried in
their Kafka headers, passed on by the order process manager and the mail reactor, and
``eventshop events trace`` prints the chain (docs/operations.md, "Following one request")."""

from __future__ import annotations

import re
from collections.abc import Iterator
from uuid import uuid4

import psycopg
import pytest
from typer.testing import CliRunner

from contracts.causation import meta_of
from contracts.topics import topic_name
from eventshop.cli.main import app
from eventshop.operations.trace import trace
from reactors.sender import render
from tests.integration.test_orders import a_customer, a_product, shop_of
from tests.support.problems import assert_problem
from tests.support.stack import PASSWORD, Servers, Stack, eventually, running_stack, settings_env
from tests.support.topics import read_all
from write_side.persistence.migrations import EVENTS_TABLE
from write_side.processes.order_expiry import OrderExpiry


@pytest.fixture(scope="module")
def stack(servers: Servers) -> Iterator[Stack]:
    with running_stack(servers) as stack:
        stack.start_relay()
        yield stack


def register(stack: Stack, **headers: str) -> tuple[str, str]:
    """A new customer's id, and the request id their registration was answered with."""
    body = {"email": f"c-{uuid4().hex[:8]}@example.com", "name": "Cora", "password": PASSWORD}
    created = stack.commands.post("/customers", json=body, headers=headers)
    assert created.status_code == 201, created.text
    return str(created.json()["id"]), created.headers["X-Request-ID"]


def stored_meta(stack: Stack, aggregate_id: str, version: int = 1) -> dict[str, str]:
    [(state,)] = stack.sql(
        f"SELECT state FROM {{es}}.{EVENTS_TABLE}"
        " WHERE originator_id = %s AND originator_version = %s",
        aggregate_id,
        version,
    )
    meta = meta_of(bytes(state))
    assert meta is not None
    return meta.model_dump()


def test_a_commands_request_id_is_echoed_stored_and_readable_in_kafka_headers(
    stack: Stack,
) -> None:
    request_id = f"abc-{uuid4().hex}"
    customer_id, echoed = register(stack, **{"X-Request-ID": request_id})
    assert echoed == request_id
    assert stored_meta(stack, customer_id) == {
        "correlation_id": request_id,
        "causation_id": request_id,
        "actor": "anonymous",
        "command": "register_customer",
    }
    topic = topic_name("customers", stack.settings.topic_prefix)

    def published() -> dict[str, bytes] | None:
        for record in read_all(stack.settings.kafka_bootstrap_servers or "", [topic]):
            headers = dict(record.headers)
            if headers.get("aggregate_id") == customer_id.encode():
                return headers
        return None

    headers = eventually(published)
    assert headers is not None
    assert headers["correlation_id"] == request_id.encode()
    assert headers["causation_id"] == request_id.encode()
    assert headers["actor"] == b"anonymous"


def test_without_an_id_the_server_makes_one_and_a_traceparent_lends_its_trace_id(
    stack: Stack,
) -> None:
    customer_id, made = register(stack)
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert stored_meta(stack, customer_id)["correlation_id"] == made
    trace_id = uuid4().hex
    _, from_trace = register(stack, traceparent=f"00-{trace_id}-{uuid4().hex[:16]}-01")
    assert from_trace == trace_id
    assert (
        stack.queries.get("/healthz", headers={"X-Request-ID": "q-1"}).headers["X-Request-ID"]
        == "q-1"
    )


@pytest.mark.parametrize("bad", ["has space", "x" * 129, "tab\tinside"])
def test_an_unusable_request_id_is_a_400_on_both_apis(stack: Stack, bad: str) -> None:
    for client, path in ((stack.commands, "/customers"), (stack.queries, "/products")):
        response = client.get(path, headers={"X-Request-ID": bad})
        assert_problem(response, 400, "INVALID_REQUEST_ID")


def test_an_expiry_and_its_mail_chain_back_to_the_request_that_placed_the_order(
    stack: Stack,
) -> None:
    customer = a_customer(stack)
    request_id = f"place-{uuid4().hex[:8]}"
    placed = customer.post(
        "/orders",
        json={"lines": [{"product_id": a_product(stack, stock=2), "quantity": 1}]},
        headers={"X-Request-ID": request_id},
    )
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]
    settings = stack.settings
    expiry = OrderExpiry(shop_of(stack), settings.database_url or "", settings.event_schema, 0)
    assert expiry.run_once() == {"expired": 1}

    with psycopg.connect(settings.database_url or "") as conn:
        chain = trace(conn, settings.event_schema, settings.read_schema, request_id)
        by_event_id = trace(conn, settings.event_schema, settings.read_schema, f"{order_id}.2")
    assert by_event_id == chain  # any event of the chain finds the whole chain
    orders = [step for step in chain if step["id"].startswith(order_id)]
    assert [(s["what"], s["command"]) for s in orders] == [
        ("OrderPlaced", "place_order"),
        ("OrderCancelled", "expire_order"),
    ]
    cancelled = orders[1]
    assert cancelled["actor"] == "process:order_expiry"
    assert cancelled["caused_by"] == f"{order_id}.1"  # the OrderPlaced
    assert {s["what"] for s in chain} >= {"StockReserved", "StockReleased"}

    # The mail the expiry causes names the same request (the reactor's outbox row).
    mail = render(
        {
            "key": f"cancelled.{order_id}.2",
            "kind": "cancelled",
            "order_id": order_id,
            "facts": {"reason": "expired", "refunded": 0},
            "correlation_id": stored_meta(stack, order_id, 2)["correlation_id"],
            "email": "c@example.com",
            "name": "Cora",
            "lines": [],
            "total": 0,
        }
    )
    assert mail.message()["X-Correlation-ID"] == request_id


def test_events_trace_prints_the_chain_and_fails_for_an_unknown_id(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    request_id = f"cli-{uuid4().hex[:8]}"
    customer_id, _ = register(stack, **{"X-Request-ID": request_id})
    for key, value in settings_env(stack.settings).items():
        if key.startswith("EVENTSHOP_"):
            monkeypatch.setenv(key, value)
    shown = CliRunner().invoke(app, ["events", "trace", request_id, "--json"])
    assert shown.exit_code == 0, shown.output
    assert f'"id": "{customer_id}.1"' in shown.stdout
    assert '"command": "register_customer"' in shown.stdout
    unknown = CliRunner().invoke(app, ["events", "trace", "nobody-sent-this"])
    assert unknown.exit_code == 1
