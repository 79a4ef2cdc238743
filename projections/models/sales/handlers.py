"""The ``sales`` read model's SQL handlers: one function per event type (the live
path, :mod:`projections.live.applier`)."""

from __future__ import annotations

from datetime import date
from typing import Any

from psycopg import Cursor, sql

from contracts.envelope import Envelope
from contracts.events import OrderCancelled, OrderPaid, OrderPlaced


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
