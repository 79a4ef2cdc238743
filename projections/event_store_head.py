"""The event store's head and the relay's state, readable by the query role through two
functions (SECURITY DEFINER: the role still reads no event-store table)."""

from __future__ import annotations

import psycopg
from psycopg import sql

from contracts.bookkeeping import (
    HEAD_FUNCTION,
    KEYS_FUNCTION,
    RELAY_CHECKPOINT_TABLE,
    RELAY_STATE_FUNCTION,
)
from contracts.personal import KEY_TABLE


def install_event_store_head(
    database_url: str, schema: str, event_schema: str, events_table: str, query_role: str
) -> None:
    """Let the query role ask how far the event store goes, and nothing more.

    The query API refuses a consistency token naming an event beyond this head instead of
    waiting for one that will never come (an event store reset, a token of another store).
    """
    function = sql.Identifier(schema, HEAD_FUNCTION)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL(
                "CREATE OR REPLACE FUNCTION {}() RETURNS bigint LANGUAGE sql STABLE"
                " SECURITY DEFINER SET search_path = pg_catalog, pg_temp"
                " AS $$ SELECT coalesce(max(notification_id), 0) FROM {} $$"
            ).format(function, sql.Identifier(event_schema, events_table))
        )
        relay = sql.Identifier(schema, RELAY_STATE_FUNCTION)
        # Its row type grew (``republished``): replaced whole, in one transaction.
        conn.execute("BEGIN")
        conn.execute(sql.SQL("DROP FUNCTION IF EXISTS {}()").format(relay))
        conn.execute(
            sql.SQL(
                "CREATE FUNCTION {}() RETURNS TABLE (checkpoint bigint,"
                " offsets jsonb, heartbeat_at timestamptz, blocked_type text, backlog bigint,"
                " republished int)"
                " LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp"
                " AS $$ SELECT c.notification_id, c.partition_offsets, c.heartbeat_at,"
                " c.blocked_type, (SELECT count(*) FROM {} e"
                " WHERE e.notification_id > c.notification_id), c.republished FROM {} c $$"
            ).format(
                relay,
                sql.Identifier(event_schema, events_table),
                sql.Identifier(event_schema, RELAY_CHECKPOINT_TABLE),
            )
        )
        conn.execute("COMMIT")
        keys = sql.Identifier(schema, KEYS_FUNCTION)
        conn.execute(
            sql.SQL(
                "CREATE OR REPLACE FUNCTION {}(ids uuid[]) RETURNS TABLE (customer_id uuid,"
                " key bytea) LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp"
                " AS $$ SELECT k.customer_id, k.key FROM {} k WHERE k.customer_id = ANY(ids) $$"
            ).format(keys, sql.Identifier(event_schema, KEY_TABLE))
        )
        conn.execute(sql.SQL("REVOKE ALL ON FUNCTION {}(uuid[]) FROM PUBLIC").format(keys))
        for each in (function, relay):
            conn.execute(sql.SQL("REVOKE ALL ON FUNCTION {}() FROM PUBLIC").format(each))
            conn.execute(
                sql.SQL("GRANT EXECUTE ON FUNCTION {}() TO {}").format(
                    each, sql.Identifier(query_role)
                )
            )
