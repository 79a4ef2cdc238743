"""The broker goes down, and comes back empty (the embedded broker keeps nothing).

Commands keep succeeding meanwhile (docs/architecture.md, guarantee 8); the relay notices the
lost data and republishes; the read models converge with every event applied exactly once
(guarantee 8, docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from uuid import uuid4

import pytest

from eventshop.embedded import EmbeddedKafka
from tests.support.stack import PASSWORD, Servers, eventually, running_stack


@pytest.fixture
def own_broker() -> Iterator[EmbeddedKafka]:
    broker = EmbeddedKafka()
    broker.start()
    yield broker
    broker.stop()


def test_read_models_converge_after_the_broker_restarts_empty(
    database_url: str, own_broker: EmbeddedKafka
) -> None:
    servers = Servers(database_url, own_broker.bootstrap_servers)
    with running_stack(servers) as stack:
        relay = stack.start_relay()
        stack.start_projectors()
        product_id = stack.admin.post(
            "/products", json={"sku": f"B-{uuid4().hex[:8]}", "title": "Bowl", "price": 900}
        ).json()["id"]
        stack.admin.post(f"/products/{product_id}/stock", json={"delta": 10})

        def on_hand() -> int | None:
            rows = stack.sql("SELECT on_hand FROM {rm}.products WHERE id = %s", product_id)
            return rows[0][0] if rows else None

        eventually(lambda: on_hand() == 10)

        own_broker.stop()
        stock = stack.admin.post(f"/products/{product_id}/stock", json={"delta": 4})
        email = f"after-{uuid4().hex[:8]}@example.com"
        customer = stack.commands.post(
            "/customers", json={"email": email, "name": "Late", "password": PASSWORD}
        )
        assert (stock.status_code, customer.status_code) == (200, 201)
        customer_id = customer.json()["id"]
        own_broker.start()  # same port, no data

        eventually(lambda: on_hand() == 14, timeout=60)
        eventually(
            lambda: stack.sql("SELECT 1 FROM {rm}.customers WHERE id = %s", customer_id), timeout=60
        )
        assert relay.stats.republishes >= 1
        # The republished log reaches the projector too; every old event is dropped.
        eventually(lambda: stack.positions("products")["duplicates"] >= 2, timeout=60)
        assert stack.positions("products")["applied"] == 3  # created, +10, +4: once each
        assert on_hand() == 14
