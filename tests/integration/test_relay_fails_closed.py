"""The relay never skips an event (guarantee 11): a stored type it does not know stops it.

A rolling deploy: the new command API writes an event type the old relay does not know.
The old relay publishes everything before it, then stops there and says `blocked`; once
the new relay runs, it takes over and publishes that event and everything after it.
"""

from __future__ import annotations

import threading
from uuid import uuid4

import eventshop.operations.status as operations
from contracts.topics import topic_name
from contracts.upcasting import EVENTS_BY_NAME
from eventshop import wiring
from eventshop.settings import Settings
from tests.support.stack import Servers, eventually, running_stack
from tests.support.topics import read_all
from write_side.relay.publisher import KafkaRelay

TOKEN = "X-Consistency-Token"


def old_relay(settings: Settings) -> KafkaRelay:
    """A relay of a release that predates ``ProductPublished``."""
    relay = wiring.relay(settings)
    old = {k: v for k, v in EVENTS_BY_NAME.items() if k != "ProductPublished"}
    relay.types.contracts = old
    relay.blocked_retry_seconds = 0.3
    return relay


def test_an_unknown_type_blocks_the_old_relay_until_the_new_one_publishes_it(
    servers: Servers,
) -> None:
    with running_stack(servers) as stack:
        old, stop_old = old_relay(stack.settings), threading.Event()
        thread = threading.Thread(target=old.run, args=(stop_old,), daemon=True)
        thread.start()
        try:
            created = stack.admin.post(
                "/products", json={"sku": f"R-{uuid4().hex[:8]}", "title": "Rolling", "price": 5}
            ).json()["id"]
            stack.admin.post(f"/products/{created}/publish")  # the new type
            stocked = stack.admin.post(f"/products/{created}/stock", json={"delta": 3})
            eventually(lambda: old.stats.blocked_type == "ProductPublished.v1")
            status = operations.relay_status(stack.settings)
            assert (status["state"], status["blocked_at_type"]) == (
                "blocked",
                "ProductPublished.v1",
            )
            topics = [topic_name("catalog", stack.settings.topic_prefix)]
            before = read_all(servers.kafka_bootstrap_servers, topics)
            types = [dict(r.headers)["event_type"].decode() for r in before]
            assert types == ["ProductCreated"]  # what came before it; nothing after it

            stack.start_relay()  # the new release's relay: a standby until the old lets go
            stack.start_projectors("products")
            product = stack.admin_queries.get(
                f"/products/{created}", headers={TOKEN: stocked.headers[TOKEN]}
            )
            assert product.status_code == 200, product.text
            assert (product.json()["status"], product.json()["on_hand"]) == ("published", 3)
            after = read_all(servers.kafka_bootstrap_servers, topics)
            published = {dict(r.headers)["event_type"].decode() for r in after}
            assert published == {"ProductCreated", "ProductPublished", "StockAdjusted"}
            eventually(lambda: operations.relay_status(stack.settings)["state"] == "active")
            assert operations.relay_status(stack.settings)["blocked_at_type"] is None
        finally:
            stop_old.set()
            thread.join(timeout=15)
