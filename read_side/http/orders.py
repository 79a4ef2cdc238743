"""Order queries: one order as its owner or an admin sees it, and pages for admins."""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from fastapi import APIRouter

import read_side.queries.orders as order_queries
from contracts.rows import OrderPage, OrderView
from http_edge.problems import problem_responses
from read_side.auth import may_see
from read_side.http.deps import AdminOrdersRead, Cursor, Limit, OrdersRead, not_found, page_or_422
from read_side.http.validators import NOT_MODIFIED

router = APIRouter(tags=["orders"], responses=NOT_MODIFIED)


class OrderStatus(StrEnum):
    placed = "placed"
    paid = "paid"
    shipped = "shipped"
    cancelled = "cancelled"


@router.get("/orders/{order_id}", responses=problem_responses(400, 401, 404, 422, 503))
async def get_order(order_id: UUID, read: OrdersRead) -> OrderView:
    found = await read(lambda conn: order_queries.get_order(conn, read.ctx.schema, order_id))
    if found is None or not may_see(read.caller, found.customer.id):
        raise not_found("order", order_id)
    return found


@router.get("/orders", responses=problem_responses(400, 401, 403, 422, 503))
async def list_orders(
    read: AdminOrdersRead,
    limit: Limit = 20,
    cursor: Cursor = None,
    status: OrderStatus | None = None,
    customer_id: UUID | None = None,
) -> OrderPage:
    return await read(
        lambda conn: page_or_422(
            order_queries.list_orders(
                conn,
                read.ctx.schema,
                limit=limit,
                cursors=read.ctx.cursors,
                cursor=cursor,
                customer_id=customer_id,
                status=status.value if status else None,
            )
        )
    )
