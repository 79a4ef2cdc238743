"""The query API's role can only SELECT read models (docs/architecture.md, guarantee 10)."""

from __future__ import annotations

import psycopg
import pytest

from eventshop import wiring
from tests.support.stack import Servers, isolated_settings


def test_the_query_role_reads_read_models_and_nothing_else(servers: Servers) -> None:
    settings = isolated_settings(servers)
    wiring.migrate(settings)
    rm, es = settings.read_schema, settings.event_schema
    with psycopg.connect(wiring.read_database_url(settings), autocommit=True) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (settings.query_role,)
        conn.execute(f"SELECT count(*) FROM {rm}.products").fetchone()
        conn.execute(f"SELECT count(*) FROM {rm}.projection_positions").fetchone()
        forbidden = [
            f"INSERT INTO {rm}.customers (id, email, name, role, version, registered_at,"
            " updated_at) VALUES (gen_random_uuid(), 'a', 'b', 'c', 1, now(), now())",
            f"UPDATE {rm}.products SET price = 0",
            f"DELETE FROM {rm}.projection_positions",
            f"TRUNCATE {rm}.products",
            f"CREATE TABLE {rm}.sneaky (id int)",
            f"SELECT * FROM {es}.shop_events",
            f"SELECT * FROM {es}.relay_checkpoint",
            f"INSERT INTO {es}.shop_events (originator_id, originator_version, topic, state)"
            " VALUES (gen_random_uuid(), 1, 'x', '')",
            # Customers' data keys: neither the table nor the consumers' function.
            f"SELECT * FROM {es}.customer_keys",
            f"SELECT * FROM {rm}.customer_keys(ARRAY[gen_random_uuid()])",
            f"SELECT * FROM {es}.erasures",
        ]
        for statement in forbidden:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
