"""A read-model schema change ships as a new table version plus a rebuild: the deploy's
migration never ALTERs the live tables, the new release's projector waits for the
rebuild, and the rebuild swaps the new shape in with every event applied once."""

from __future__ import annotations

import pytest

import eventshop.operations.status as operations
from contracts.readmodels import TABLE_VERSIONS
from eventshop import wiring
from projections.rebuild.verify import verify
from projections.records import TableVersionMismatchError
from projections.schema import MODEL_DDL
from tests.support.stack import Servers, Stack, eventually, running_stack

TOKEN = "X-Consistency-Token"
#: Products tables version 3, as a developer would write it: a new column and index.
V2_EXTRA = [
    "ALTER TABLE {schema}.products ADD COLUMN title_key text"
    " GENERATED ALWAYS AS (lower(title)) STORED",
    "CREATE INDEX IF NOT EXISTS products_by_title_key ON {schema}.products (title_key)",
]


def products_columns(stack: Stack) -> set[str]:
    rows = stack.sql(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = %s AND table_name = 'products'",
        stack.settings.read_schema,
    )
    return {r[0] for r in rows}


def test_a_new_table_version_is_installed_by_a_rebuild_never_by_an_alter(
    servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running_stack(servers) as stack:
        stack.start_relay()
        stack.start_projectors("products")
        created = stack.admin.post("/products", json={"sku": "TV-1", "title": "Lamp", "price": 9})
        product_id = created.json()["id"]
        assert (
            stack.admin_queries.get(
                f"/products/{product_id}", headers={TOKEN: created.headers[TOKEN]}
            ).json()["on_hand"]
            == 0
        )

        # The new release is deployed: its code writes products tables version 3.
        monkeypatch.setitem(TABLE_VERSIONS, "products", 3)
        monkeypatch.setitem(MODEL_DDL, "products", [*MODEL_DDL["products"], *V2_EXTRA])
        assert wiring.migrate(stack.settings) == {"products": (2, 3)}
        assert "title_key" not in products_columns(stack)  # no ALTER on the live table
        status = {
            p["projection"]: p for p in operations.projections(stack.settings, partitions=False)
        }
        assert status["products"]["table_version"] == 2
        assert status["products"]["state"] == "needs rebuild (tables v2, code v3)"

        moved = stack.admin.post(f"/products/{product_id}/stock", json={"delta": 3})
        assert moved.status_code == 200
        [projector] = stack.projectors
        # It has read the record, and left it unapplied: it waits for the rebuild.
        waiting = eventually(lambda: projector.members[0].waiting_for_rebuild, timeout=30)
        assert "version 2, this code writes version 3" in str(waiting)
        assert stack.sql("SELECT on_hand FROM {rm}.products")[0][0] == 0
        assert stack.admin_queries.get(f"/products/{product_id}").status_code == 200  # v2 serves

        with pytest.raises(TableVersionMismatchError, match="rebuild it"):
            verify(wiring.rebuilder(stack.settings, "products"))  # nothing to compare yet
        result = wiring.rebuilder(stack.settings, "products").run()
        assert result.events >= 2
        assert "title_key" in products_columns(stack)
        assert stack.sql(
            "SELECT table_version, state FROM {rm}.read_model_versions"
            " WHERE projection = 'products'"
        ) == [(3, "live")]
        indexes = {
            r[0]
            for r in stack.sql(
                "SELECT indexname FROM pg_indexes WHERE schemaname = %s AND tablename = 'products'",
                stack.settings.read_schema,
            )
        }
        assert {"products_search", "products_by_price", "products_by_title_key"} <= indexes

        # The projector goes on with the new tables: the move is there once, and new ones too.
        again = stack.admin.post(f"/products/{product_id}/stock", json={"delta": 1})
        read = stack.admin_queries.get(
            f"/products/{product_id}", headers={TOKEN: again.headers[TOKEN]}
        )
        assert read.json()["on_hand"] == 4
        assert verify(wiring.rebuilder(stack.settings, "products")).equal
        status = {
            p["projection"]: p for p in operations.projections(stack.settings, partitions=False)
        }
        assert (status["products"]["state"], status["products"]["table_version"]) == ("live", 3)


def test_a_query_for_another_table_version_is_a_503_not_a_500(servers: Servers) -> None:
    with running_stack(servers) as stack:
        stack.start_relay()
        stack.start_projectors("products")
        created = stack.admin.post("/products", json={"sku": "TV-2", "title": "Desk", "price": 9})
        product_id = created.json()["id"]
        stack.admin_queries.get(f"/products/{product_id}", headers={TOKEN: created.headers[TOKEN]})
        # Old tables, new query code: a column the query needs is not there (yet).
        stack.sql("ALTER TABLE {rm}.products DROP COLUMN description CASCADE")
        response = stack.admin_queries.get(f"/products/{product_id}")
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "1"
        assert response.json()["code"] == "SERVICE_UNAVAILABLE"
