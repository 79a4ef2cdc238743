"""The mail reactor's tables, in the read schema beside the projections' bookkeeping (its
positions, versions and parked events are kept there under the name ``mail``).

- ``mail_recipients``: each customer's name and current address.
- ``mail_orders``: what an order's mails list (lines and total, from ``OrderPlaced``).
- ``mail_outbox``: the effect records, one per mail, keyed by the event that owes it
  (``<kind>.<aggregate id>.<version>``). The intake inserts a row in the same transaction
  as its position; the sender (:mod:`reactors.sender`) hands it to SMTP and records when,
  and deletes settled ones after the retention (:mod:`reactors.outbox_pruning`).
- ``mail_pruned``: how far that went (a notification id verify compares above).

The query role may read none of them (addresses and mail are not a read model).
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

PRUNED_TABLE = "mail_pruned"
TABLES = ("mail_recipients", "mail_orders", "mail_outbox", PRUNED_TABLE)

#: States of an effect record. ``pending`` and ``dead`` hold the later mails of their
#: aggregate (mails of one order go out in event order); ``sent``, ``rejected`` (the server
#: refused it for good) and ``discarded`` (an operator's decision) do not.
STATES = ("pending", "sent", "rejected", "dead", "discarded")
HOLDING = ("pending", "dead")

DDL = (
    """CREATE TABLE IF NOT EXISTS {schema}.mail_recipients (
        customer_id uuid PRIMARY KEY,
        email text NOT NULL,
        name text NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS {schema}.mail_orders (
        order_id uuid PRIMARY KEY,
        customer_id uuid NOT NULL,
        lines jsonb NOT NULL,
        total bigint NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS {schema}.mail_outbox (
        key text PRIMARY KEY,
        kind text NOT NULL,
        aggregate_id uuid NOT NULL,
        aggregate_version int NOT NULL,
        notification_id bigint NOT NULL,
        customer_id uuid NOT NULL,
        order_id uuid,
        facts jsonb NOT NULL DEFAULT '{{}}',
        correlation_id text NOT NULL DEFAULT '',
        state text NOT NULL DEFAULT 'pending'
            CHECK (state IN ('pending', 'sent', 'rejected', 'dead', 'discarded')),
        attempts int NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        last_error text,
        recipient text,
        subject text,
        created_at timestamptz NOT NULL DEFAULT now(),
        sent_at timestamptz)""",
    """CREATE INDEX IF NOT EXISTS mail_outbox_aggregate ON {schema}.mail_outbox
        (aggregate_id, aggregate_version)""",
    # How far settled mail was pruned (reactors/outbox_pruning.py).
    """CREATE TABLE IF NOT EXISTS {schema}.mail_pruned (
        id int PRIMARY KEY DEFAULT 1 CHECK (id = 1),
        through_notification_id bigint NOT NULL DEFAULT 0,
        pruned bigint NOT NULL DEFAULT 0,
        updated_at timestamptz NOT NULL DEFAULT now())""",
    "INSERT INTO {schema}.mail_pruned (id) VALUES (1) ON CONFLICT DO NOTHING",
)

#: The sender's claim (reactors/sender.py) walks the pending mail in the order it fell due
#: and looks up, for each, whether an earlier mail of its aggregate still holds it: two
#: partial indexes on ``mail_outbox``, as small as the backlog, so a claim costs the same
#: after years of sent mail and under a backlog of thousands. Built CONCURRENTLY: on a lived
#: outbox the builds must not stop the intake's inserts; one an interrupted build left
#: invalid (IF NOT EXISTS would keep it for ever, and the planner never uses it) is rebuilt.
CLAIM_INDEXES = {
    "mail_outbox_due_order": "(next_attempt_at, notification_id) WHERE state = 'pending'",
    "mail_outbox_holding": "(aggregate_id, aggregate_version) WHERE state IN ('pending', 'dead')",
}
#: A customer's erasure scrubs their mail (reactors/mail_intake.py, ``on_erased``) inside
#: the processing group's transaction: without it, a scan of the whole outbox (147 ms on a
#: million records) holding up every projection of the group (docs/benchmarks.md).
ERASURE_INDEXES = {"mail_outbox_customer": "(customer_id)"}
#: Replaced by them: on next_attempt_at alone, it made the claim sort every due mail.
DROPPED_INDEXES = ("mail_outbox_due",)


def migrate_mail_tables(conn: psycopg.Connection[Any], schema: str, query_role: str) -> None:
    """Create the tables (idempotent) and take SELECT on them away from the query role,
    which the read schema's default privileges would otherwise give it. ``conn`` is in
    autocommit: indexes are built CONCURRENTLY."""
    ident = sql.Identifier(schema)
    for statement in DDL:
        conn.execute(sql.SQL(statement).format(schema=ident))
    outbox = sql.Identifier(schema, "mail_outbox")
    for name, definition in {**CLAIM_INDEXES, **ERASURE_INDEXES}.items():
        _drop_if_invalid(conn, schema, name)
        conn.execute(
            sql.SQL("CREATE INDEX CONCURRENTLY IF NOT EXISTS {} ON {} " + definition).format(
                sql.Identifier(name), outbox
            )
        )
    for name in DROPPED_INDEXES:
        conn.execute(
            sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(schema, name))
        )
    conn.execute(
        sql.SQL("REVOKE ALL ON {} FROM {}").format(
            sql.SQL(", ").join(sql.Identifier(schema, t) for t in TABLES),
            sql.Identifier(query_role),
        )
    )


def _drop_if_invalid(conn: psycopg.Connection[Any], schema: str, name: str) -> None:
    row = conn.execute(
        "SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)",
        (sql.Identifier(schema, name).as_string(conn),),
    ).fetchone()
    if row and row[0]:
        conn.execute(sql.SQL("DROP INDEX CONCURRENTLY {}").format(sql.Identifier(schema, name)))
