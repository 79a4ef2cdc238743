"""The ``customers`` read model: profile, role and order statistics."""

from __future__ import annotations

from typing import Any

from psycopg import Cursor, sql

from contracts.envelope import Envelope
from contracts.events import (
    ContractEvent,
    CustomerEmailChanged,
    CustomerRegistered,
    CustomerRenamed,
    OrderCancelled,
    OrderPaid,
    OrderPlaced,
)
from projections.memory_rows import Rows
from projections.projection import Projection


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


def _update(
    cur: Cursor[Any], schema: str, env: Envelope, e: ContractEvent, *, column: str, value: str
) -> None:
    # The version guard makes a replayed event a no-op even past the position check.
    cur.execute(
        sql.SQL(
            "UPDATE {}.customers SET {} = %s, version = %s, updated_at = %s"
            " WHERE id = %s AND version < %s"
        ).format(sql.Identifier(schema), sql.Identifier(column)),
        (value, env.aggregate_version, e.occurred_at, env.aggregate_id, env.aggregate_version),
    )


def on_renamed(cur: Cursor[Any], schema: str, env: Envelope, e: CustomerRenamed) -> None:
    _update(cur, schema, env, e, column="name", value=e.name)


def on_email_changed(cur: Cursor[Any], schema: str, env: Envelope, e: CustomerEmailChanged) -> None:
    _update(cur, schema, env, e, column="email", value=e.email)


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


# The same effects on in-memory rows, for rebuilds (projections.bulk).


def fold_registered(rows: Rows, env: Envelope, e: CustomerRegistered) -> None:
    rows.insert(
        "customers",
        {
            "id": env.aggregate_id,
            "email": e.email,
            "name": e.name,
            "role": e.role,
            "version": env.aggregate_version,
            "registered_at": e.occurred_at,
            "updated_at": e.occurred_at,
        },
    )


def _fold(rows: Rows, env: Envelope, e: ContractEvent, column: str, value: str) -> None:
    row = rows.edit("customers", env.aggregate_id)
    if row is not None and row["version"] < env.aggregate_version:
        row.update({column: value}, version=env.aggregate_version, updated_at=e.occurred_at)


def fold_renamed(rows: Rows, env: Envelope, e: CustomerRenamed) -> None:
    _fold(rows, env, e, "name", e.name)


def fold_email_changed(rows: Rows, env: Envelope, e: CustomerEmailChanged) -> None:
    _fold(rows, env, e, "email", e.email)


def fold_order_placed(rows: Rows, env: Envelope, e: OrderPlaced) -> None:
    rows.insert("customer_orders", {"order_id": env.aggregate_id, "customer_id": e.customer_id})
    stats = rows.edit("customer_order_stats", e.customer_id)
    if stats is None:
        rows.insert(
            "customer_order_stats",
            {
                "customer_id": e.customer_id,
                "order_count": 1,
                "lifetime_value": 0,
                "last_order_at": e.occurred_at,
            },
        )
        return
    stats["order_count"] += 1
    last = stats["last_order_at"]  # greatest() ignores NULL
    stats["last_order_at"] = e.occurred_at if last is None else max(last, e.occurred_at)


def _fold_value(rows: Rows, env: Envelope, amount: int) -> None:
    order = rows.find("customer_orders", env.aggregate_id)
    stats = rows.edit("customer_order_stats", order["customer_id"]) if order else None
    if stats is not None:
        stats["lifetime_value"] += amount


def fold_order_paid(rows: Rows, env: Envelope, e: OrderPaid) -> None:
    _fold_value(rows, env, e.amount)


def fold_order_cancelled(rows: Rows, env: Envelope, e: OrderCancelled) -> None:
    if e.refunded:
        _fold_value(rows, env, -e.refunded)


CUSTOMERS = Projection(
    "customers",
    {
        CustomerRegistered: on_registered,
        CustomerRenamed: on_renamed,
        CustomerEmailChanged: on_email_changed,
        OrderPlaced: on_order_placed,
        OrderPaid: on_order_paid,
        OrderCancelled: on_order_cancelled,
    },
    folds={
        CustomerRegistered: fold_registered,
        CustomerRenamed: fold_renamed,
        CustomerEmailChanged: fold_email_changed,
        OrderPlaced: fold_order_placed,
        OrderPaid: fold_order_paid,
        OrderCancelled: fold_order_cancelled,
    },
)
