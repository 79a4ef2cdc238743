"""Query functions: plain, parameterized SQL over read-model tables, returning row shapes."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row

from contracts.rows import CustomerView, ProductView


async def get_customer(
    conn: AsyncConnection[Any], schema: str, customer_id: UUID
) -> CustomerView | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            sql.SQL(
                "SELECT c.id, c.email, c.name, c.role, coalesce(s.order_count, 0) AS order_count,"
                " coalesce(s.lifetime_value, 0) AS lifetime_value, s.last_order_at"
                " FROM {0}.customers c"
                " LEFT JOIN {0}.customer_order_stats s ON s.customer_id = c.id WHERE c.id = %s"
            ).format(sql.Identifier(schema)),
            (customer_id,),
        )
        row = await cur.fetchone()
    return CustomerView.model_validate(row) if row else None


PRODUCT_COLUMNS = sql.SQL(
    "id, sku, title, description, categories, category,"
    " price, status, on_hand, reserved,"
    " on_hand - reserved AS available, units_sold"
)


def _visible(include_unpublished: bool) -> sql.Composable:
    return sql.SQL("TRUE" if include_unpublished else "status = 'published'")


async def get_product(
    conn: AsyncConnection[Any], schema: str, product_id: UUID, *, include_unpublished: bool = False
) -> ProductView | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            sql.SQL("SELECT {} FROM {}.products WHERE id = %s AND {}").format(
                PRODUCT_COLUMNS, sql.Identifier(schema), _visible(include_unpublished)
            ),
            (product_id,),
        )
        row = await cur.fetchone()
    return ProductView.model_validate(row) if row else None
