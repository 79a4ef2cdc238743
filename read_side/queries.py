"""Query functions: plain, parameterized SQL over read-model tables, returning row shapes."""

from __future__ import annotations

import base64
import binascii
from typing import Any
from uuid import UUID

from psycopg import Connection, sql
from psycopg.rows import dict_row

from contracts.rows import CustomerView, ProductPage, ProductView


class InvalidCursorError(ValueError):
    """A pagination cursor we did not issue."""


def get_customer(conn: Connection[Any], schema: str, customer_id: UUID) -> CustomerView | None:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            sql.SQL(
                "SELECT c.id, c.email, c.name, c.role, coalesce(s.order_count, 0) AS order_count,"
                " coalesce(s.lifetime_value, 0) AS lifetime_value, s.last_order_at"
                " FROM {0}.customers c"
                " LEFT JOIN {0}.customer_order_stats s ON s.customer_id = c.id WHERE c.id = %s"
            ).format(sql.Identifier(schema)),
            (customer_id,),
        ).fetchone()
    return CustomerView.model_validate(row) if row else None


_PRODUCT_COLUMNS = (
    "id, sku, title, description, category, price, status, on_hand, reserved,"
    " on_hand - reserved AS available, units_sold"
)


def _visible(include_unpublished: bool) -> sql.Composable:
    return sql.SQL("TRUE" if include_unpublished else "status = 'published'")


def get_product(
    conn: Connection[Any], schema: str, product_id: UUID, *, include_unpublished: bool = False
) -> ProductView | None:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            sql.SQL("SELECT " + _PRODUCT_COLUMNS + " FROM {}.products WHERE id = %s AND {}").format(
                sql.Identifier(schema), _visible(include_unpublished)
            ),
            (product_id,),
        ).fetchone()
    return ProductView.model_validate(row) if row else None


def list_products(
    conn: Connection[Any],
    schema: str,
    *,
    limit: int,
    cursor: str | None = None,
    include_unpublished: bool = False,
) -> ProductPage:
    """Products in a stable order (sku, id); ``cursor`` continues after the last one seen."""
    after = _decode_cursor(cursor) if cursor else None
    where = sql.SQL("WHERE {} AND (sku, id) > (%s, %s)" if after else "WHERE {}").format(
        _visible(include_unpublished)
    )
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            sql.SQL(
                "SELECT " + _PRODUCT_COLUMNS + " FROM {}.products {} ORDER BY sku, id LIMIT %s"
            ).format(sql.Identifier(schema), where),
            (*(after or ()), limit + 1),
        ).fetchall()
    items = [ProductView.model_validate(r) for r in rows[:limit]]
    more = len(rows) > limit
    return ProductPage(
        items=items, next_cursor=_encode_cursor(items[-1].sku, items[-1].id) if more else None
    )


def _encode_cursor(sku: str, product_id: UUID) -> str:
    return base64.urlsafe_b64encode(f"{sku}\x00{product_id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[str, UUID]:
    try:
        sku, _, raw_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("\x00")
        return sku, UUID(raw_id)
    except (binascii.Error, UnicodeError, ValueError) as error:
        raise InvalidCursorError("invalid cursor") from error
