"""The ``orders`` read model's SQL handlers: one function per event type (the live
path, :mod:`projections.live.applier`)."""

from __future__ import annotations

from typing import Any, LiteralString

from psycopg import Cursor, sql

from contracts.envelope import Envelope
from contracts.events import (
    ContractEvent,
    CustomerEmailChanged,
    CustomerErased,
    CustomerRegistered,
    CustomerRenamed,
    OrderCancelled,
    OrderPaid,
    OrderPlaced,
    OrderShipped,
    ProductCreated,
    ProductDetailsChanged,
)
from contracts.personal import ERASED
from projections.models.row_versions import update_row


def on_placed(cur: Cursor[Any], schema: str, env: Envelope, e: OrderPlaced) -> None:
    ident = sql.Identifier(schema)
    cur.execute(
        sql.SQL(
            "INSERT INTO {}.orders (id, customer_id, status, total, payment_status, placed_at,"
            " version) VALUES (%s, %s, 'placed', %s, 'unpaid', %s, %s) ON CONFLICT DO NOTHING"
        ).format(ident),
        (env.aggregate_id, e.customer_id, e.total, e.occurred_at, env.aggregate_version),
    )
    cur.executemany(
        sql.SQL(
            "INSERT INTO {}.order_lines (order_id, position, product_id, sku, title, quantity,"
            " unit_price) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"
        ).format(ident),
        [
            (
                env.aggregate_id,
                n,
                line.product_id,
                line.sku,
                line.title,
                line.quantity,
                line.unit_price,
            )
            for n, line in enumerate(e.lines)
        ],
    )


def _order(
    cur: Cursor[Any], schema: str, env: Envelope, assignments: LiteralString, *params: object
) -> None:
    update_row(cur, schema, "orders", env, assignments, *params)


def on_paid(cur: Cursor[Any], schema: str, env: Envelope, e: OrderPaid) -> None:
    _order(
        cur,
        schema,
        env,
        "status = 'paid', payment_status = 'paid', paid_amount = %s, paid_at = %s",
        e.amount,
        e.occurred_at,
    )


def on_shipped(cur: Cursor[Any], schema: str, env: Envelope, e: OrderShipped) -> None:
    _order(cur, schema, env, "status = 'shipped', shipped_at = %s", e.occurred_at)


def on_cancelled(cur: Cursor[Any], schema: str, env: Envelope, e: OrderCancelled) -> None:
    _order(
        cur,
        schema,
        env,
        "status = 'cancelled', cancelled_at = %s, refunded = %s, payment_status ="
        " CASE WHEN %s > 0 THEN 'refunded' ELSE payment_status END, cancel_reason = %s",
        e.occurred_at,
        e.refunded,
        e.refunded,
        e.reason,
    )


def _upsert(
    cur: Cursor[Any],
    schema: str,
    env: Envelope,
    *,
    table: str,
    key: str,
    values: dict[str, object],
) -> None:
    """Insert or update a customer or product we know of; older versions never win."""
    columns = [key, *values, "version"]
    updates = sql.SQL(", ").join(
        sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in [*values, "version"]
    )
    cur.execute(
        sql.SQL(
            "INSERT INTO {table} ({columns}) VALUES ({params}) ON CONFLICT ({key})"
            " DO UPDATE SET {updates} WHERE {table}.version < EXCLUDED.version"
        ).format(
            table=sql.Identifier(schema, table),
            columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
            params=sql.SQL(", ").join(sql.Placeholder() * len(columns)),
            key=sql.Identifier(key),
            updates=updates,
        ),
        (env.aggregate_id, *values.values(), env.aggregate_version),
    )


def _update_known(
    cur: Cursor[Any],
    schema: str,
    env: Envelope,
    *,
    table: str,
    key: str,
    column: str,
    value: str,
) -> None:
    cur.execute(
        sql.SQL("UPDATE {} SET {} = %s, version = %s WHERE {} = %s AND version < %s").format(
            sql.Identifier(schema, table), sql.Identifier(column), sql.Identifier(key)
        ),
        (value, env.aggregate_version, env.aggregate_id, env.aggregate_version),
    )


def on_customer(cur: Cursor[Any], schema: str, env: Envelope, e: ContractEvent) -> None:
    table, key = "order_customers", "customer_id"
    if isinstance(e, CustomerRegistered):
        _upsert(cur, schema, env, table=table, key=key, values={"name": e.name, "email": e.email})
    elif isinstance(e, CustomerRenamed):
        _update_known(cur, schema, env, table=table, key=key, column="name", value=e.name)
    elif isinstance(e, CustomerEmailChanged):
        _update_known(cur, schema, env, table=table, key=key, column="email", value=e.email)
    elif isinstance(e, CustomerErased):
        _upsert(cur, schema, env, table=table, key=key, values={"name": ERASED, "email": ERASED})


def on_product(cur: Cursor[Any], schema: str, env: Envelope, e: ContractEvent) -> None:
    table, key = "order_products", "product_id"
    if isinstance(e, ProductCreated):
        _upsert(cur, schema, env, table=table, key=key, values={"sku": e.sku, "title": e.title})
    elif isinstance(e, ProductDetailsChanged):
        _update_known(cur, schema, env, table=table, key=key, column="title", value=e.title)
