"""The ``customers`` read model's SQL handlers: one function per event type (the live
path, :mod:`projections.live.applier`)."""

from __future__ import annotations

from typing import Any

from psycopg import Cursor, sql

from contracts.envelope import Envelope
from contracts.events import (
    CustomerEmailChanged,
    CustomerErased,
    CustomerRegistered,
    CustomerRenamed,
    OrderCancelled,
    OrderPaid,
    OrderPlaced,
)
from contracts.personal import ERASED
from contracts.upcasting import decode
from projections.models.row_versions import update_row


def on_registered(cur: Cursor[Any], schema: str, env: Envelope, e: CustomerRegistered) -> None:
    cur.execute(
        sql.SQL(
            "INSERT INTO {}.customers (id, email, name, role, version, registered_at, updated_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING"
        ).format(sql.Identifier(schema)),
        (
            env.aggregate_id,
            e.email,
            e.name,
            e.role,
            env.aggregate_version,
            e.occurred_at,
            e.occurred_at,
        ),
    )


def on_renamed(cur: Cursor[Any], schema: str, env: Envelope, e: CustomerRenamed) -> None:
    update_row(cur, schema, "customers", env, "name = %s", e.name, touched_at=e.occurred_at)


def on_email_changed(cur: Cursor[Any], schema: str, env: Envelope, e: CustomerEmailChanged) -> None:
    update_row(cur, schema, "customers", env, "email = %s", e.email, touched_at=e.occurred_at)


def on_erased(cur: Cursor[Any], schema: str, env: Envelope, e: CustomerErased) -> None:
    update_row(
        cur,
        schema,
        "customers",
        env,
        "email = %s, name = %s",
        ERASED,
        ERASED,
        touched_at=e.occurred_at,
    )


def on_order_placed(cur: Cursor[Any], schema: str, env: Envelope, e: OrderPlaced) -> None:
    cur.execute(
        sql.SQL(
            "INSERT INTO {}.customer_orders (order_id, customer_id) VALUES (%s, %s)"
            " ON CONFLICT DO NOTHING"
        ).format(sql.Identifier(schema)),
        (env.aggregate_id, e.customer_id),
    )
    cur.execute(
        sql.SQL(
            "INSERT INTO {0}.customer_order_stats AS s (customer_id, order_count, last_order_at)"
            " VALUES (%s, 1, %s) ON CONFLICT (customer_id) DO UPDATE SET"
            " order_count = s.order_count + 1,"
            " last_order_at = greatest(s.last_order_at, EXCLUDED.last_order_at)"
        ).format(sql.Identifier(schema)),
        (e.customer_id, e.occurred_at),
    )


def _add_value(cur: Cursor[Any], schema: str, env: Envelope, amount: int) -> None:
    """Lifetime value = paid minus refunded; the order's customer comes from OrderPlaced,
    which precedes every other event of the order on its partition."""
    cur.execute(
        sql.SQL(
            "UPDATE {0}.customer_order_stats s SET lifetime_value = lifetime_value + %s"
            " FROM {0}.customer_orders o WHERE o.order_id = %s AND s.customer_id = o.customer_id"
        ).format(sql.Identifier(schema)),
        (amount, env.aggregate_id),
    )


def on_order_paid(cur: Cursor[Any], schema: str, env: Envelope, e: OrderPaid) -> None:
    _add_value(cur, schema, env, e.amount)


def on_order_cancelled(cur: Cursor[Any], schema: str, env: Envelope, e: OrderCancelled) -> None:
    if e.refunded:
        _add_value(cur, schema, env, -e.refunded)


_ORDER_EVENTS = frozenset({OrderPlaced.type_name, OrderPaid.type_name, OrderCancelled.type_name})


def lock_order_stats(cur: Cursor[Any], schema: str, envelopes: list[Envelope]) -> None:
    """Lock the customers whose orders are in the batch, in one order for everyone
    (``Projection.shared_rows``): order events are partitioned by order, so two projector
    instances change one customer's statistics row. A placed order names its customer; a
    later event's order was placed before it, on its own partition, so its customer is in
    ``customer_orders``. The locks are the customers' (transaction-scoped advisory locks,
    taken in key order), not their rows': a customer's first order creates the row in its
    handler, and a row that does not exist yet cannot be locked (two new customers' first
    orders, in opposite orders in two batches, deadlocked)."""
    placed, later = [], []
    for env in envelopes:
        if env.event_type == OrderPlaced.type_name:
            try:
                event = decode(env.event_type, env.schema_version, env.payload)
            except Exception:  # noqa: S112 - the rules park or dead-letter it; it locks nothing
                continue
            placed.append(event.customer_id)  # type: ignore[attr-defined]
        elif env.event_type in _ORDER_EVENTS:
            later.append(env.aggregate_id)
    if not placed and not later:
        return
    cur.execute(
        sql.SQL(
            "SELECT pg_advisory_xact_lock(hashtext(%s), k) FROM"
            " (SELECT DISTINCT hashtext(c::text) AS k FROM"
            " (SELECT unnest(%s::uuid[]) AS c UNION"
            " SELECT customer_id FROM {0}.customer_orders WHERE order_id = ANY(%s::uuid[])) cs"
            " ORDER BY k) keys"
        ).format(sql.Identifier(schema)),
        (f"{schema}.customer_order_stats", placed, later),
    )
