"""Projections sharing topics share one consumer (a processing group), and each member
keeps its own pace: one waiting for a rebuild holds back none of the others, and catches
up on everything it let pass once the rebuild is in."""

from __future__ import annotations

import threading
from collections.abc import Mapping

import pytest

from contracts.readmodels import TABLE_VERSIONS
from eventshop import wiring
from projections.rebuild.verify import verify
from projections.registry import PROJECTIONS
from projections.schema import MODEL_DDL
from tests.e2e.test_table_versions import V2_EXTRA
from tests.support.stack import Servers, eventually, running_stack

TOKEN = "X-Consistency-Token"


def token(headers: Mapping[str, str]) -> dict[str, str]:
    return {TOKEN: headers[TOKEN]}


def test_a_member_waiting_for_a_rebuild_holds_back_no_other_member(
    servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running_stack(servers) as stack:
        stack.start_relay()
        stack.start_projectors("products", "orders")
        [group] = stack.projectors  # they share the catalog topic: one consumer
        assert [m.name for m in group.members] == ["products", "orders"]
        assert group.group_id.endswith(".projections.orders+products")

        created = stack.admin.post("/products", json={"sku": "PG-1", "title": "Lamp", "price": 9})
        first = created.json()["id"]
        stack.admin_queries.get(f"/products/{first}", headers={TOKEN: created.headers[TOKEN]})

        # A new release's products tables: its member waits for the rebuild.
        monkeypatch.setitem(TABLE_VERSIONS, "products", 3)
        monkeypatch.setitem(MODEL_DDL, "products", [*MODEL_DDL["products"], *V2_EXTRA])
        assert wiring.migrate(stack.settings) == {"products": (2, 3)}
        products, orders = group.members
        assert stack.admin.post(f"/products/{first}/stock", json={"delta": 3}).status_code == 200
        second = stack.admin.post("/products", json={"sku": "PG-2", "title": "Desk", "price": 5})
        second_id = second.json()["id"]

        # The orders member goes on: it sees the second product, while products waits.
        def orders_know_the_second() -> bool:
            rows = stack.sql("SELECT 1 FROM {rm}.order_products WHERE product_id = %s", second_id)
            return bool(rows)

        eventually(orders_know_the_second, timeout=30)
        assert "this code writes version 3" in str(products.waiting_for_rebuild)
        assert orders.waiting_for_rebuild is None
        assert stack.sql("SELECT count(*) FROM {rm}.products")[0][0] == 1
        assert stack.sql("SELECT on_hand FROM {rm}.products")[0][0] == 0

        # The new tables are swapped in as a rebuild whose snapshot predates the restock and
        # the second product would leave them: only the records the member let pass have them.
        for statement in V2_EXTRA:
            stack.sql(statement.replace("{schema}", "{rm}"))
        stack.sql(
            "UPDATE {rm}.read_model_versions SET table_version = 3 WHERE projection = 'products'"
        )
        read = stack.admin_queries.get(
            f"/products/{second_id}", headers={TOKEN: second.headers[TOKEN]}
        )
        assert read.status_code == 200, read.text
        assert stack.admin_queries.get(f"/products/{first}").json()["on_hand"] == 3
        eventually(lambda: products.waiting_for_rebuild is None and not products.skipped)
        for name in ("products", "orders"):
            assert verify(wiring.rebuilder(stack.settings, name)).equal, name


def test_a_regrouped_projection_resumes_where_its_position_says(servers: Servers) -> None:
    """Projections run alone, then as one group (a new consumer-group name with no
    committed offsets): the group starts past what every member has applied."""
    with running_stack(servers) as stack:
        stack.start_relay()
        alone = [wiring.projector(stack.settings, PROJECTIONS[n]) for n in ("products", "orders")]
        stop = threading.Event()
        threads = [threading.Thread(target=p.run, args=(stop,), daemon=True) for p in alone]
        for thread in threads:
            thread.start()
        last = None
        for n in range(3):
            last = stack.admin.post("/products", json={"sku": f"RG-{n}", "title": "T", "price": 1})
        assert last is not None
        read = stack.admin_queries.get(
            f"/products/{last.json()['id']}", headers=token(last.headers)
        )
        assert read.status_code == 200
        eventually(lambda: stack.positions("orders")["applied"] >= 3)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)

        stack.start_projectors("products", "orders")
        assert stack.projectors[0].group_id.endswith(".projections.orders+products")
        more = stack.admin.post("/products", json={"sku": "RG-9", "title": "T", "price": 1})
        read = stack.admin_queries.get(
            f"/products/{more.json()['id']}", headers=token(more.headers)
        )
        assert read.status_code == 200
        eventually(lambda: stack.positions("orders")["applied"] >= 4)
        # Nothing was read twice: the group did not start from the topics' beginning.
        assert stack.positions("products")["duplicates"] == 0
        assert stack.positions("orders")["duplicates"] == 0
