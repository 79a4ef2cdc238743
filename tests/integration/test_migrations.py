"""``eventshop migrate`` is idempotent and brings an older installation up to date."""

from __future__ import annotations

import psycopg

from eventshop import wiring
from tests.support.stack import Servers, isolated_settings


def columns(url: str, schema: str, table: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = %s AND table_name = %s",
            (schema, table),
        ).fetchall()
    return {r[0] for r in rows}


def test_migrating_twice_and_upgrading_an_old_schema(servers: Servers) -> None:
    settings = isolated_settings(servers)
    wiring.migrate(settings)
    es, rm = settings.event_schema, settings.read_schema
    with psycopg.connect(servers.database_url, autocommit=True) as conn:
        # The shape the first release shipped, before these columns existed.
        conn.execute(f"ALTER TABLE {es}.relay_checkpoint DROP COLUMN topic_ids")
        conn.execute(f"ALTER TABLE {rm}.projection_positions DROP COLUMN relay_epoch")
        conn.execute(f"ALTER TABLE {rm}.projection_positions DROP COLUMN rewinds")
    wiring.migrate(settings)
    wiring.migrate(settings)
    assert "topic_ids" in columns(servers.database_url, es, "relay_checkpoint")
    assert {"relay_epoch", "rewinds"} <= columns(servers.database_url, rm, "projection_positions")
