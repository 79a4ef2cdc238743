"""Admin reports: low stock (over the products model) and sales by day."""

from __future__ import annotations

from datetime import date
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row

from contracts.rows import ProductView, SalesDay
from read_side.queries.lookups import PRODUCT_COLUMNS


async def low_stock(
    conn: AsyncConnection[Any], schema: str, *, threshold: int, limit: int
) -> list[ProductView]:
    """Published products whose available stock is at or below ``threshold``, lowest first."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            sql.SQL(
                "SELECT {} FROM {}.products"
                " WHERE status = 'published' AND on_hand - reserved <= %s"
                " ORDER BY on_hand - reserved, sku LIMIT %s"
            ).format(PRODUCT_COLUMNS, sql.Identifier(schema)),
            (threshold, limit),
        )
        rows = await cur.fetchall()
    return [ProductView.model_validate(r) for r in rows]


async def sales(
    conn: AsyncConnection[Any], schema: str, *, start: date, end: date
) -> list[SalesDay]:
    """Every day from ``start`` to ``end`` inclusive, zeros where nothing happened."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            sql.SQL(
                "SELECT d::date AS day, coalesce(s.orders_placed, 0) AS orders_placed,"
                " coalesce(s.orders_paid, 0) AS orders_paid, coalesce(s.revenue, 0) AS revenue,"
                " coalesce(s.refunded, 0) AS refunded"
                " FROM generate_series(%s::date, %s::date, interval '1 day') d"
                " LEFT JOIN {}.sales_by_day s ON s.day = d::date ORDER BY 1"
            ).format(sql.Identifier(schema)),
            (start, end),
        )
        rows = await cur.fetchall()
    return [SalesDay.model_validate(r) for r in rows]
