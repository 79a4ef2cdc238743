"""Poison messages on the real broker go to ``<topic>.dlt``; the projector keeps going
(guarantee 9, docs/architecture.md)."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import orjson
from kafka import KafkaProducer
from psycopg import Cursor

from contracts.envelope import Envelope
from contracts.events import ProductCreated
from contracts.topics import dead_letter_topic, topic_name
from contracts.upcasting import encode
from projections.live.consumer import KafkaProjector
from projections.models.products import PRODUCTS
from projections.models.products.handlers import on_created
from tests.support.stack import Servers, eventually, running_stack
from tests.support.topics import read_all

TOKEN = "X-Consistency-Token"
SECRETS = {
    "password": "hunter2-in-a-payload",
    "password_hash": "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2g",
    "note": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
}


def flaky_on_created(cur: Cursor[Any], schema: str, env: Envelope, e: ProductCreated) -> None:
    if e.sku == "BOOM":
        raise RuntimeError("the handler has a bug")
    on_created(cur, schema, env, e)


def test_poison_records_are_dead_lettered_and_later_events_applied(servers: Servers) -> None:
    # The read below waits through the new projector's group join and the poisons before
    # the good event: on a loaded CI machine that took longer than the default 2 s.
    with running_stack(servers, consistency_wait_seconds=10.0) as stack:
        stack.start_relay()
        projection = replace(
            PRODUCTS, handlers={**PRODUCTS.handlers, ProductCreated: flaky_on_created}
        )
        projector = KafkaProjector(
            projections=[projection],
            database_url=servers.database_url,
            schema=stack.settings.read_schema,
            bootstrap_servers=servers.kafka_bootstrap_servers,
            topic_prefix=stack.settings.topic_prefix,
            group_prefix=stack.settings.consumer_group_prefix,
            session_timeout_ms=2000,
        )
        stop = threading.Event()
        thread = threading.Thread(target=projector.run, args=(stop,), daemon=True)
        thread.start()
        try:
            topic = topic_name("catalog", stack.settings.topic_prefix)
            producer = KafkaProducer(bootstrap_servers=servers.kafka_bootstrap_servers)

            def publish(event_type: str, payload: bytes, nid: int) -> None:
                envelope = Envelope(nid, uuid4(), 1, event_type, 1, payload)
                producer.send(
                    topic,
                    key=str(envelope.aggregate_id).encode(),
                    value=payload,
                    headers=envelope.headers(datetime.now(UTC)),
                    partition=0,
                )

            now = datetime.now(UTC)
            producer.send(
                topic, value=b"\xff\x00", headers=[("notification_id", b"x")], partition=0
            )
            publish("ProductCreated", b'{"sku": 1}', 10**9)
            publish(
                "ProductCreated",
                encode(ProductCreated(occurred_at=now, sku="BOOM", title="t", price=1)),
                10**9 + 1,
            )
            publish("SomethingFromTheFuture", b"{}", 10**9 + 2)
            # A payload quoting secrets: its validation error must not carry them onward.
            publish("ProductCreated", orjson.dumps({"sku": 1, **SECRETS}), 10**9 + 3)
            producer.flush()
            producer.close()

            after = stack.admin.post(
                "/products", json={"sku": f"OK-{uuid4().hex[:6]}", "title": "Fine", "price": 5}
            )
            read = stack.admin_queries.get(
                f"/products/{after.json()['id']}", headers={TOKEN: after.headers[TOKEN]}
            )
            assert read.status_code == 200, read.text

            dlt = [dead_letter_topic(topic)]
            eventually(lambda: len(read_all(servers.kafka_bootstrap_servers, dlt)) >= 4)
            letters = read_all(servers.kafka_bootstrap_servers, dlt)
            headers = [
                {k: v.decode() for k, v in record.headers if k.startswith("dlt.")}
                for record in letters
            ]
            assert {h["dlt.error_class"] for h in headers} == {
                "UndecodableEventError",
                "RuntimeError",
            }
            assert all(h["dlt.original_topic"] == topic for h in headers)
            assert all(h["dlt.projection"] == "products" for h in headers)
            assert {h["dlt.notification_id"] for h in headers} == {
                "",
                str(10**9),
                str(10**9 + 1),
                str(10**9 + 3),
            }
            # pydantic shortens long inputs, so look for pieces of each secret.
            fragments = ("hunter2", "c2FsdHNhbHQ", "aGFzaGhhc2g", "eyJzdWIiOiJ4In0", "c2ln")
            assert not [f for f in fragments for h in headers if f in str(h)], headers
            assert all(h["dlt.original_offset"].isdigit() for h in headers)
            assert "the handler has a bug" in next(
                h["dlt.error_message"] for h in headers if h["dlt.error_class"] == "RuntimeError"
            )
            counts = stack.positions("products")
            assert counts["dead_lettered"] == 4
            # The unknown type is neither skipped nor a poison: it waits for a release that
            # reads it (a newer one wrote it), holding its aggregate's later events.
            assert counts["skipped"] == 0
            waiting = stack.sql(
                "SELECT event_type, reason FROM {rm}.projection_parked WHERE projection = %s",
                "products",
            )
            assert ("SomethingFromTheFuture", "needs_upgrade") in waiting
            assert thread.is_alive()
        finally:
            stop.set()
            thread.join(timeout=15)
