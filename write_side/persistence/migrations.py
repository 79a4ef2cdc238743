"""Event-store schema: created in an explicit step, never as a side effect of start-up."""

from __future__ import annotations

from typing import Any

import psycopg
from eventsourcing.application import Application
from psycopg import sql

from write_side.persistence.event_store import event_store_env

EVENTS_TABLE = "shop_events"

#: Applied in order, each idempotent; append, never edit, so old installations catch up.
_STATEMENTS = [
    "CREATE SCHEMA IF NOT EXISTS {schema}",
    "CREATE TABLE IF NOT EXISTS {schema}.relay_checkpoint ("
    " id int PRIMARY KEY DEFAULT 1 CHECK (id = 1),"
    " notification_id bigint NOT NULL DEFAULT 0,"
    " partition_offsets jsonb NOT NULL DEFAULT '{{}}',"
    " republished int NOT NULL DEFAULT 0,"
    " updated_at timestamptz NOT NULL DEFAULT now())",
    "ALTER TABLE {schema}.relay_checkpoint"
    " ADD COLUMN IF NOT EXISTS topic_ids jsonb NOT NULL DEFAULT '{{}}'",
    "INSERT INTO {schema}.relay_checkpoint (id) VALUES (1) ON CONFLICT DO NOTHING",
    # A relay that met a stored type it does not know stops there and says so here.
    "ALTER TABLE {schema}.relay_checkpoint ADD COLUMN IF NOT EXISTS blocked_type text",
    "ALTER TABLE {schema}.relay_checkpoint ADD COLUMN IF NOT EXISTS blocked_at bigint",
    "ALTER TABLE {schema}.relay_checkpoint ADD COLUMN IF NOT EXISTS blocked_since timestamptz",
    "CREATE TABLE IF NOT EXISTS {schema}.idempotency_keys ("
    " scope text NOT NULL,"
    " key text NOT NULL,"
    " fingerprint text NOT NULL,"
    " result jsonb NOT NULL,"
    " created_at timestamptz NOT NULL DEFAULT now(),"
    " CONSTRAINT idempotency_keys_pkey PRIMARY KEY (scope, key))",
    # The active relay says it is alive every few seconds (lag measured from outside).
    "ALTER TABLE {schema}.relay_checkpoint ADD COLUMN IF NOT EXISTS heartbeat_at timestamptz",
    # Each relay that becomes active takes the next leader epoch; its checkpoint writes
    # name it, so a leader that lost its place cannot move the checkpoint (the fence).
    "ALTER TABLE {schema}.relay_checkpoint"
    " ADD COLUMN IF NOT EXISTS leader_epoch bigint NOT NULL DEFAULT 0",
    # Idempotency keys expire; the sweep finds them by age.
    "CREATE INDEX IF NOT EXISTS idempotency_keys_created_at ON {schema}.idempotency_keys"
    " (created_at)",
    # The order process manager: where it has read the log to, and its durable timers.
    "CREATE TABLE IF NOT EXISTS {schema}.process_positions ("
    " name text PRIMARY KEY, notification_id bigint NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS {schema}.order_timers ("
    " order_id uuid PRIMARY KEY, due_at timestamptz NOT NULL, fired_at timestamptz,"
    " outcome text)",
    "CREATE INDEX IF NOT EXISTS order_timers_due ON {schema}.order_timers (due_at)"
    " WHERE fired_at IS NULL",
    # What the expiry answers: the placing request's correlation id and the event's id.
    "ALTER TABLE {schema}.order_timers ADD COLUMN IF NOT EXISTS correlation_id text",
    "ALTER TABLE {schema}.order_timers ADD COLUMN IF NOT EXISTS cause_event text",
    # Fired and settled timers are pruned after a day (order_expiry.py, prune).
    "CREATE INDEX IF NOT EXISTS order_timers_fired ON {schema}.order_timers (fired_at)"
    " WHERE fired_at IS NOT NULL",
    # Each customer's data key (contracts/personal.py). Only the owner role reads it: the
    # write side and the consumers that open personal fields; never the query role.
    "CREATE TABLE IF NOT EXISTS {schema}.customer_keys ("
    " customer_id uuid PRIMARY KEY, key bytea NOT NULL,"
    " created_at timestamptz NOT NULL DEFAULT now())",
    "REVOKE ALL ON {schema}.customer_keys FROM PUBLIC",
    # One row per erased customer: when, by whom, which clear events were rewritten
    # (write_side/persistence/personal_keys.py; the receipt reads it).
    "CREATE TABLE IF NOT EXISTS {schema}.erasures ("
    " customer_id uuid PRIMARY KEY, erased_at timestamptz NOT NULL DEFAULT now(),"
    " erased_by text NOT NULL, record jsonb NOT NULL DEFAULT '{{}}')",
]


#: After the library's tables exist; same rules as ``_STATEMENTS``.
_ON_EVENTS = [
    # `events trace` finds a request's events by the correlation id in their stored meta
    # (eventshop/operations/trace.py). The key is a hash of the id as stored, cut out of
    # the payload's bytes: no JSON parse, so no payload can make an insert fail, and 4
    # bytes an event. The query rechecks the bytes (hashes collide).
    "CREATE OR REPLACE FUNCTION {schema}.correlation_key(state bytea) RETURNS int"
    " LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$"
    " SELECT CASE WHEN at > 0 AND span > 0"
    " THEN hashtext(encode(substring(state FROM at + 18 FOR span - 1), 'hex')) END"
    ' FROM (SELECT position(\'"correlation_id":"\'::bytea IN state) AS at) found,'
    " LATERAL (SELECT position('\"'::bytea IN substring(state FROM at + 18)) AS span) ends $$",
    # CONCURRENTLY: on a store of millions of events the build must not stop the writers.
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS shop_events_correlation"
    " ON {schema}.shop_events ({schema}.correlation_key(state))",
    # One statement a command (IdempotentPostgresRecorder._append): the library's insert
    # transaction as one call. The EXCLUSIVE lock keeps notification order equal to commit
    # order, so the relay tailing the log never passes an id that commits later.
    "CREATE OR REPLACE FUNCTION {schema}.append_events("
    " events {schema}.stored_event_uuid[], lock_timeout_s int) RETURNS SETOF bigint"
    " LANGUAGE plpgsql AS $$ BEGIN"
    " PERFORM set_config('lock_timeout', lock_timeout_s || 's', true);"
    " LOCK TABLE {schema}.shop_events IN EXCLUSIVE MODE;"
    " NOTIFY shop_events;"
    " RETURN QUERY INSERT INTO {schema}.shop_events"
    " (originator_id, originator_version, topic, state)"
    " SELECT originator_id, originator_version, topic, state FROM unnest(events)"
    " RETURNING notification_id; END $$",
]


def migrate_event_store(database_url: str, schema: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        for statement in _STATEMENTS:
            conn.execute(sql.SQL(statement).format(schema=sql.Identifier(schema)))
    # The library creates its own tables (events, notifications) for the application named
    # Shop, as the application itself would with CREATE_TABLE on: here, and only here.
    tables = _ShopTables(event_store_env(database_url, schema, create_table=True, pool_size=1))
    tables.close()
    with psycopg.connect(database_url, autocommit=True) as conn:
        for statement in _ON_EVENTS:
            conn.execute(sql.SQL(statement).format(schema=sql.Identifier(schema)))


class _ShopTables(Application[Any]):
    name = "Shop"
