"""Customer queries: a profile with its order statistics, and a customer's orders."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

import read_side.queries.lookups as queries
import read_side.queries.orders as order_queries
from contracts.rows import CustomerView, OrderPage
from http_edge.problems import problem_responses
from read_side.auth import may_see
from read_side.http.deps import (
    Cursor,
    CustomersRead,
    Limit,
    OrdersRead,
    not_found,
    page_or_422,
)
from read_side.http.validators import NOT_MODIFIED

router = APIRouter(
    tags=["customers"], responses={**NOT_MODIFIED, **problem_responses(400, 401, 404, 422, 503)}
)


@router.get("/customers/me")
async def get_me(read: CustomersRead) -> CustomerView:
    return await get_customer(read.caller.sub, read)


@router.get("/customers/{customer_id}")
async def get_customer(customer_id: UUID, read: CustomersRead) -> CustomerView:
    found = await read(lambda conn: queries.get_customer(conn, read.ctx.schema, customer_id))
    if found is None or not may_see(read.caller, customer_id):
        raise not_found("customer", customer_id)
    return found


@router.get("/customers/{customer_id}/orders")
async def customer_orders(
    customer_id: UUID,
    read: OrdersRead,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> OrderPage:
    if not may_see(read.caller, customer_id):
        raise not_found("customer", customer_id)
    return await read(
        lambda conn: page_or_422(
            order_queries.list_orders(
                conn,
                read.ctx.schema,
                limit=limit,
                cursors=read.ctx.cursors,
                cursor=cursor,
                customer_id=customer_id,
            )
        )
    )
