"""GET /asyncapi.json describes what is actually published: every record the relay puts on
the topics belongs to a channel of the document, names one of its messages, and its payload
and headers validate against that message's schemas."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import jsonschema
import orjson
import pytest

from contracts.asyncapi import asyncapi, message_name
from contracts.personal import PERSONAL_FIELDS
from contracts.topics import topic_name
from tests.integration.test_orders import a_customer, a_product, place
from tests.support.stack import Servers, Stack, eventually, running_stack
from tests.support.topics import read_all
from tests.support.v1_store import write_v1_product


@pytest.fixture(scope="module")
def stack(servers: Servers) -> Iterator[Stack]:
    with running_stack(servers) as stack:
        stack.start_relay()
        yield stack


def valid(document: dict[str, Any], name: str, instance: Any) -> None:
    """``instance`` against ``#/components/schemas/<name>`` of ``document``."""
    root = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    jsonschema.Draft202012Validator(root).validate(instance)


def test_every_published_record_matches_its_channel_message_and_schemas(stack: Stack) -> None:
    customer = a_customer(stack)
    lamp = a_product(stack, stock=5, price=1999)
    stack.admin.patch(f"/products/{lamp}", json={"price": 2499})
    paid = place(customer, (lamp, 2)).json()["id"]
    assert customer.post(f"/orders/{paid}/pay", json={"payment_token": "tok_ok"}).status_code == 200
    assert stack.admin.post(f"/orders/{paid}/ship").status_code == 200
    cancelled = place(customer, (lamp, 1)).json()["id"]
    assert customer.post(f"/orders/{cancelled}/cancel").status_code == 200
    shop = stack.admin.app.state.shop  # type: ignore[attr-defined]
    write_v1_product(shop, sku=f"A-{uuid4().hex[:8]}", title="Old", category="x", renamed=("O", ""))

    served = stack.queries.get("/asyncapi.json")
    assert served.status_code == 200
    document = served.json()
    prefix = stack.settings.topic_prefix
    assert document == orjson.loads(orjson.dumps(asyncapi(prefix)))
    assert document["asyncapi"] == "3.0.0"
    by_address = {c["address"]: c for c in document["channels"].values()}
    topics = [topic_name(c, prefix) for c in ("customers", "catalog", "orders")]
    assert set(by_address) == set(topics)

    seen: set[str] = set()

    def everything_published() -> list[Any]:
        records = read_all(stack.settings.kafka_bootstrap_servers or "", topics)
        types = {dict(r.headers)["event_type"].decode() for r in records}
        wanted = {"OrderShipped", "OrderCancelled", "ProductPriceChanged", "ProductDetailsChanged"}
        return records if wanted <= types else []

    for record in eventually(everything_published):
        headers = {k: v.decode() for k, v in record.headers}
        name = message_name(headers["event_type"], int(headers["schema_version"]))
        assert name in by_address[record.topic]["messages"], (record.topic, name)
        valid(document, name, orjson.loads(record.value))
        valid(document, "EventHeaders", headers)
        assert record.key.decode() == headers["aggregate_id"]
        seen.add(name)
    assert len(seen) >= 10, seen
    assert {"ProductCreated.v1", "ProductDetailsChanged.v1", "ProductCreated"} <= seen


def test_each_past_version_is_listed_with_the_upcaster_that_reads_it(stack: Stack) -> None:
    document = stack.queries.get("/asyncapi.json").json()
    messages = document["components"]["messages"]
    for name in ("ProductCreated", "ProductDetailsChanged"):
        past, current = messages[f"{name}.v1"], messages[name]
        assert (past["x-schema-version"], current["x-schema-version"]) == (1, 2)
        assert past["x-upcaster"]["to-schema-version"] == 2
        assert past["x-upcaster"]["function"] == "contracts.upcasting.one_category_to_many"
        assert "categories" in document["components"]["schemas"][name]["properties"]
        assert "category" in document["components"]["schemas"][f"{name}.v1"]["properties"]
        assert f"{name}.v1" in document["channels"]["catalog"]["messages"]


def test_the_document_describes_no_internal_event(stack: Stack) -> None:
    document = stack.queries.get("/asyncapi.json").json()
    for internal in ("PasswordSet", "EmailClaimed", "SkuClaimed", "PaymentStarted"):
        assert internal not in document["components"]["messages"]


def test_the_document_marks_exactly_the_sealed_personal_fields() -> None:
    schemas = asyncapi()["components"]["schemas"]
    marked = {
        (name, field)
        for name, schema in schemas.items()
        for field, spec in schema.get("properties", {}).items()
        if spec.get("x-personal") == "sealed"
    }
    published = {
        (name, field)
        for name, (_, fields) in PERSONAL_FIELDS.items()
        if name in schemas
        for field in fields
    }
    assert marked == published and published  # the clear v1 schemas carry no mark
