"""History written before the product events' v2 (one ``category`` → ``categories``) is
read on every path that reads the store or the broker: the write side reconstitutes it
and takes v2 commands, the relay publishes the stored v1 bytes under their own version,
the projectors, rebuilds and verify upcast them, the order process manager follows a
stored v1 type, and ``events trace`` shows what version was stored. Nothing is rewritten.
"""

from __future__ import annotations

from uuid import UUID, uuid4

import psycopg
import pytest

from contracts import upcasting
from contracts.envelope import Envelope
from contracts.events import OrderPlaced
from contracts.topics import topic_name
from eventshop import wiring
from eventshop.operations.trace import trace
from projections.rebuild.verify import verify
from tests.support.credentials import PASSWORD, login
from tests.support.stack import Servers, Stack, running_stack
from tests.support.topics import read_all
from tests.support.v1_store import write_v1_product

TOKEN = "X-Consistency-Token"


def stored(stack: Stack, product_id: UUID) -> list[tuple[str, bytes]]:
    rows = stack.sql(
        "SELECT topic, state FROM {es}.shop_events WHERE originator_id = %s"
        " ORDER BY originator_version",
        product_id,
    )
    return [(topic, bytes(state)) for topic, state in rows]


def buyer(stack: Stack) -> dict[str, str]:
    email = f"v1-{uuid4().hex[:8]}@example.com"
    registered = stack.commands.post(
        "/customers", json={"email": email, "name": "Vera", "password": PASSWORD}
    )
    assert registered.status_code == 201, registered.text
    return {"Authorization": f"Bearer {login(stack.commands, email)}"}


def test_v1_history_is_read_on_every_path(
    servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running_stack(servers) as stack:
        shop = stack.admin.app.state.shop  # type: ignore[attr-defined]
        request = f"req-{uuid4().hex}"
        mug = write_v1_product(
            shop,
            sku=f"V1-{uuid4().hex[:8]}",
            title="Mug",
            category="Kitchen",
            renamed=("Large mug", "Home  Decor"),
            request_id=request,
        )
        lamp = write_v1_product(shop, sku=f"V1-{uuid4().hex[:8]}", title="Lamp", category="")
        before = stored(stack, mug)
        assert [topic for topic, _ in before] == ["ProductCreated.v1", "ProductDetailsChanged.v1"]

        # The write side: v2 commands on products only v1 events describe.
        for product in (mug, lamp):
            assert stack.admin.post(f"/products/{product}/stock", json={"delta": 5}).is_success
            assert stack.admin.post(f"/products/{product}/publish").is_success
        renamed = stack.admin.patch(f"/products/{lamp}", json={"categories": ["Gifts"]})
        assert renamed.json()["version"] == 4, renamed.text
        same = stack.admin.patch(f"/products/{mug}", json={"categories": ["home decor"]})
        assert same.json()["version"] == 4, "the upcast labels are the product's labels"
        # The sku claim of a v1 product holds.
        taken = stack.admin.post(
            "/products", json={"sku": shop.get_product(mug).sku, "title": "X", "price": 1}
        )
        assert taken.status_code == 409
        as_buyer = buyer(stack)
        order = stack.commands.post(
            "/orders", json={"lines": [{"product_id": str(mug), "quantity": 2}]}, headers=as_buyer
        )
        assert order.status_code == 201, order.text  # reserved on the v1 product

        # Relay and projectors: the stored v1 bytes go out as v1 and are upcast on arrival.
        stack.start_relay()
        stack.start_projectors()
        read = stack.admin_queries.get(f"/products/{mug}", headers={TOKEN: order.headers[TOKEN]})
        assert read.status_code == 200, read.text
        assert read.json() | {"id": None, "sku": None} == {
            "id": None,
            "sku": None,
            "title": "Large mug",
            "description": "",
            "categories": ["home decor"],
            "category": "home decor",
            "price": 500,
            "status": "published",
            "on_hand": 5,
            "reserved": 2,
            "available": 3,
            "units_sold": 0,
        }
        found = stack.queries.get("/products", params={"category": "Home Decor"}).json()
        assert [item["id"] for item in found["items"]] == [str(mug)]
        lamp_read = stack.queries.get(f"/products/{lamp}", headers={TOKEN: renamed.headers[TOKEN]})
        assert lamp_read.json()["categories"] == ["gifts"]
        placed = stack.queries.get(
            f"/orders/{order.json()['id']}", headers={**as_buyer, TOKEN: order.headers[TOKEN]}
        )
        assert placed.status_code == 200, placed.text
        assert placed.json()["lines"][0]["title"] == "Large mug"  # from the v1 history

        published = [
            Envelope.from_record(r.headers, r.value)
            for r in read_all(wiring.kafka(stack.settings), [_catalog(stack)])
        ]
        first = next(e for e in published if (e.aggregate_id, e.aggregate_version) == (mug, 1))
        assert (first.event_type, first.schema_version) == ("ProductCreated", 1)
        assert first.payload == before[0][1]  # the stored bytes, untouched

        # Rebuilds and verify read the store with the v1 events in it.
        for name in ("products", "orders"):
            assert verify(wiring.rebuilder(stack.settings, name)).equal, name
            assert wiring.rebuilder(stack.settings, name).run().events >= 1
            assert verify(wiring.rebuilder(stack.settings, name)).equal, name

        # events trace finds the v1 event by the request that wrote it, and says its version.
        with psycopg.connect(wiring.database_url(stack.settings)) as conn:
            chain = trace(conn, stack.settings.event_schema, stack.settings.read_schema, request)
        assert [(e["what"], e["schema"]) for e in chain] == [("ProductCreated", 1)]

        # The order process manager follows every stored version of its types: the next
        # release's OrderPlaced v2 must not hide the orders this one placed (stored as v1).
        monkeypatch.setattr(OrderPlaced, "schema_version", 2)
        monkeypatch.setitem(upcasting.UPCASTERS, ("OrderPlaced", 1), dict)
        expiry = wiring.order_expiry(stack.settings, on=shop)
        expiry.timeout_seconds = 0
        with psycopg.connect(wiring.database_url(stack.settings), autocommit=True) as conn:
            assert expiry.follow(conn) >= 1
            assert expiry.fire_due(conn) == {"expired": 1}
        assert shop.get_product(mug).reserved == {}  # released on the v1 product
        assert stored(stack, mug)[:2] == before  # nothing was rewritten


def _catalog(stack: Stack) -> str:
    return topic_name("catalog", stack.settings.topic_prefix)
