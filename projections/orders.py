"""The ``orders`` read model: each order with its customer's and products' current names.

Order, customer and product events come on different topics in any relative order, so
the projection keeps what it knows of customers and products in its own tables, and
the query joins them: the rows converge whatever arrives first, and a later rename or
retitle shows on every order. Unit prices stay as snapshotted when the order was placed.
"""

from __future__ import annotations

from typing import Any, LiteralString

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
    OrderShipped,
    ProductCreated,
    ProductDetailsChanged,
)
from projections.memory_rows import Row, Rows
from projections.projection import Projection


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
    """Apply ``assignments`` (our own SQL text) to the order; replays are no-ops."""
    cur.execute(
        sql.SQL("UPDATE {}.orders SET {}, version = %s WHERE id = %s AND version < %s").format(
            sql.Identifier(schema), sql.SQL(assignments)
        ),
        (*params, env.aggregate_version, env.aggregate_id, env.aggregate_version),
    )


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
        " CASE WHEN %s > 0 THEN 'refunded' ELSE payment_status END",
        e.occurred_at,
        e.refunded,
        e.refunded,
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


def on_product(cur: Cursor[Any], schema: str, env: Envelope, e: ContractEvent) -> None:
    table, key = "order_products", "product_id"
    if isinstance(e, ProductCreated):
        _upsert(cur, schema, env, table=table, key=key, values={"sku": e.sku, "title": e.title})
    elif isinstance(e, ProductDetailsChanged):
        _update_known(cur, schema, env, table=table, key=key, column="title", value=e.title)


# The same effects on in-memory rows, for rebuilds (projections.bulk).


def fold_placed(rows: Rows, env: Envelope, e: OrderPlaced) -> None:
    rows.insert(
        "orders",
        {
            "id": env.aggregate_id,
            "customer_id": e.customer_id,
            "status": "placed",
            "total": e.total,
            "payment_status": "unpaid",
            "paid_amount": 0,
            "refunded": 0,
            "placed_at": e.occurred_at,
            "paid_at": None,
            "shipped_at": None,
            "cancelled_at": None,
            "version": env.aggregate_version,
        },
    )
    for n, line in enumerate(e.lines):
        rows.insert(
            "order_lines",
            {
                "order_id": env.aggregate_id,
                "position": n,
                "product_id": line.product_id,
                "sku": line.sku,
                "title": line.title,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
            },
        )


def _fold_order(rows: Rows, env: Envelope) -> Row | None:
    row = rows.edit("orders", env.aggregate_id)
    if row is None or row["version"] >= env.aggregate_version:
        return None
    row["version"] = env.aggregate_version
    return row


def fold_paid(rows: Rows, env: Envelope, e: OrderPaid) -> None:
    if (row := _fold_order(rows, env)) is not None:
        row.update(
            status="paid", payment_status="paid", paid_amount=e.amount, paid_at=e.occurred_at
        )


def fold_shipped(rows: Rows, env: Envelope, e: OrderShipped) -> None:
    if (row := _fold_order(rows, env)) is not None:
        row.update(status="shipped", shipped_at=e.occurred_at)


def fold_cancelled(rows: Rows, env: Envelope, e: OrderCancelled) -> None:
    if (row := _fold_order(rows, env)) is not None:
        row.update(status="cancelled", cancelled_at=e.occurred_at, refunded=e.refunded)
        if e.refunded > 0:
            row["payment_status"] = "refunded"


def _fold_known(rows: Rows, env: Envelope, table: str, key: str, **values: object) -> None:
    """Insert or update a customer or product we know of; older versions never win."""
    row = rows.edit(table, env.aggregate_id)
    if row is None:
        rows.insert(table, {key: env.aggregate_id, **values, "version": env.aggregate_version})
    elif row["version"] < env.aggregate_version:
        row.update(values, version=env.aggregate_version)


def _fold_update_known(rows: Rows, env: Envelope, table: str, **values: object) -> None:
    row = rows.edit(table, env.aggregate_id)
    if row is not None and row["version"] < env.aggregate_version:
        row.update(values, version=env.aggregate_version)


def fold_customer(rows: Rows, env: Envelope, e: ContractEvent) -> None:
    table = "order_customers"
    if isinstance(e, CustomerRegistered):
        _fold_known(rows, env, table, "customer_id", name=e.name, email=e.email)
    elif isinstance(e, CustomerRenamed):
        _fold_update_known(rows, env, table, name=e.name)
    elif isinstance(e, CustomerEmailChanged):
        _fold_update_known(rows, env, table, email=e.email)


def fold_product(rows: Rows, env: Envelope, e: ContractEvent) -> None:
    table = "order_products"
    if isinstance(e, ProductCreated):
        _fold_known(rows, env, table, "product_id", sku=e.sku, title=e.title)
    elif isinstance(e, ProductDetailsChanged):
        _fold_update_known(rows, env, table, title=e.title)


ORDERS = Projection(
    "orders",
    {
        OrderPlaced: on_placed,
        OrderPaid: on_paid,
        OrderShipped: on_shipped,
        OrderCancelled: on_cancelled,
        CustomerRegistered: on_customer,
        CustomerRenamed: on_customer,
        CustomerEmailChanged: on_customer,
        ProductCreated: on_product,
        ProductDetailsChanged: on_product,
    },
    folds={
        OrderPlaced: fold_placed,
        OrderPaid: fold_paid,
        OrderShipped: fold_shipped,
        OrderCancelled: fold_cancelled,
        CustomerRegistered: fold_customer,
        CustomerRenamed: fold_customer,
        CustomerEmailChanged: fold_customer,
        ProductCreated: fold_product,
        ProductDetailsChanged: fold_product,
    },
)
