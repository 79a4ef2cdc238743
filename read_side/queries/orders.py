"""Order queries: one order with its lines, and pages of orders, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row

from contracts.rows import OrderCustomer, OrderLineView, OrderPage, OrderView
from read_side.queries.cursors import CursorCodec, InvalidCursorError, as_text, as_uuid

_ORDER = """
SELECT o.id, o.status, o.customer_id, c.name, c.email, o.total, o.payment_status,
       o.placed_at, o.paid_at, o.shipped_at, o.cancelled_at, o.cancel_reason
FROM {schema}.orders o LEFT JOIN {schema}.order_customers c ON c.customer_id = o.customer_id
"""
_LINES = """
SELECT l.order_id, l.product_id, coalesce(p.sku, l.sku) AS sku,
       coalesce(p.title, l.title) AS title, l.quantity, l.unit_price
FROM {schema}.order_lines l LEFT JOIN {schema}.order_products p ON p.product_id = l.product_id
WHERE l.order_id = ANY(%s) ORDER BY l.order_id, l.position
"""


async def get_order(conn: AsyncConnection[Any], schema: str, order_id: UUID) -> OrderView | None:
    orders = await _fetch(conn, schema, sql.SQL("WHERE o.id = %s"), [order_id], limit=1)
    return orders[0] if orders else None


async def list_orders(
    conn: AsyncConnection[Any],
    schema: str,
    *,
    limit: int,
    cursors: CursorCodec,
    cursor: str | None = None,
    customer_id: UUID | None = None,
    status: str | None = None,
) -> OrderPage:
    """Newest first, (placed_at, id) descending; filters combine with AND."""
    conditions: list[sql.Composable] = []
    params: list[Any] = []
    if customer_id is not None:
        conditions.append(sql.SQL("o.customer_id = %s"))
        params.append(customer_id)
    if status is not None:
        conditions.append(sql.SQL("o.status = %s"))
        params.append(status)
    if cursor:
        conditions.append(sql.SQL("(o.placed_at, o.id) < (%s, %s)"))
        params.extend(_decode(cursors, cursor))
    where = sql.SQL("WHERE ") + sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("")
    rows = await _fetch(conn, schema, where, params, limit=limit + 1)
    items = rows[:limit]
    more = len(rows) > limit
    return OrderPage(items=items, next_cursor=_encode(cursors, items[-1]) if more else None)


async def _fetch(
    conn: AsyncConnection[Any], schema: str, where: sql.Composable, params: list[Any], *, limit: int
) -> list[OrderView]:
    ident = sql.Identifier(schema)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            sql.SQL(_ORDER).format(schema=ident)
            + where
            + sql.SQL(" ORDER BY o.placed_at DESC, o.id DESC LIMIT %s"),
            (*params, limit),
        )
        orders = await cur.fetchall()
        await cur.execute(sql.SQL(_LINES).format(schema=ident), ([o["id"] for o in orders],))
        lines = await cur.fetchall()
    by_order: dict[UUID, list[OrderLineView]] = {}
    for line in lines:
        by_order.setdefault(line["order_id"], []).append(
            OrderLineView(
                product_id=line["product_id"],
                sku=line["sku"],
                title=line["title"],
                quantity=line["quantity"],
                unit_price=line["unit_price"],
                line_total=line["quantity"] * line["unit_price"],
            )
        )
    return [
        OrderView(
            id=o["id"],
            status=o["status"],
            customer=OrderCustomer(id=o["customer_id"], name=o["name"], email=o["email"]),
            lines=by_order.get(o["id"], []),
            total=o["total"],
            payment_status=o["payment_status"],
            placed_at=o["placed_at"],
            paid_at=o["paid_at"],
            shipped_at=o["shipped_at"],
            cancelled_at=o["cancelled_at"],
            cancel_reason=o["cancel_reason"],
        )
        for o in orders
    ]


def _encode(cursors: CursorCodec, last: OrderView) -> str:
    return cursors.encode([last.placed_at.isoformat(), str(last.id)])


def _decode(cursors: CursorCodec, cursor: str) -> tuple[datetime, UUID]:
    placed_at, order_id = cursors.decode(cursor, 2)
    try:
        return datetime.fromisoformat(as_text(placed_at)), as_uuid(order_id)
    except ValueError as error:
        raise InvalidCursorError("invalid cursor") from error
