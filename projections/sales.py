"""The ``sales`` read model: per UTC day, orders placed and paid, revenue and refunds."""

from __future__ import annotations

from datetime import date
from typing import Any

from psycopg import Cursor, sql

from contracts.envelope import Envelope
from contracts.events import OrderCancelled, OrderPaid, OrderPlaced
from projections.memory_rows import Rows
from projections.projection import Projection


def _add(cur: Cursor[Any], schema: str, day: date, column: str, amount: int) -> None:
    cur.execute(
        sql.SQL(
            "INSERT INTO {table} (day, {column}) VALUES (%s, %s)"
            " ON CONFLICT (day) DO UPDATE SET {column} = {table}.{column} + EXCLUDED.{column}"
        ).format(table=sql.Identifier(schema, "sales_by_day"), column=sql.Identifier(column)),
        (day, amount),
    )


def on_placed(cur: Cursor[Any], schema: str, env: Envelope, e: OrderPlaced) -> None:
    _add(cur, schema, e.occurred_at.date(), "orders_placed", 1)


def on_paid(cur: Cursor[Any], schema: str, env: Envelope, e: OrderPaid) -> None:
    _add(cur, schema, e.occurred_at.date(), "orders_paid", 1)
    _add(cur, schema, e.occurred_at.date(), "revenue", e.amount)


def on_cancelled(cur: Cursor[Any], schema: str, env: Envelope, e: OrderCancelled) -> None:
    if e.refunded:
        _add(cur, schema, e.occurred_at.date(), "refunded", e.refunded)


# The same effects on in-memory rows, for rebuilds (projections.bulk).


def _fold(rows: Rows, day: date, column: str, amount: int) -> None:
    row = rows.edit("sales_by_day", day)
    if row is None:
        row = {"day": day, "orders_placed": 0, "orders_paid": 0, "revenue": 0, "refunded": 0}
        rows.insert("sales_by_day", row)
    row[column] += amount


def fold_placed(rows: Rows, env: Envelope, e: OrderPlaced) -> None:
    _fold(rows, e.occurred_at.date(), "orders_placed", 1)


def fold_paid(rows: Rows, env: Envelope, e: OrderPaid) -> None:
    _fold(rows, e.occurred_at.date(), "orders_paid", 1)
    _fold(rows, e.occurred_at.date(), "revenue", e.amount)


def fold_cancelled(rows: Rows, env: Envelope, e: OrderCancelled) -> None:
    if e.refunded:
        _fold(rows, e.occurred_at.date(), "refunded", e.refunded)


SALES = Projection(
    "sales",
    {OrderPlaced: on_placed, OrderPaid: on_paid, OrderCancelled: on_cancelled},
    folds={OrderPlaced: fold_placed, OrderPaid: fold_paid, OrderCancelled: fold_cancelled},
)
