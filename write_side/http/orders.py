"""Order routes: customers place, pay and cancel their own orders; admins ship."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from http_edge.problems import problem_responses
from write_side.application.shop import LineRequest
from write_side.http.auth import Admin, Authenticated
from write_side.http.deps import Context, ShopDep, run
from write_side.http.models import Accepted, PayOrder, PlaceOrder

router = APIRouter(tags=["orders"])
ORDER_ERRORS = (400, 413, 401, 404, 409, 412, 422, 503)


@router.post(
    "/orders", status_code=201, responses=problem_responses(400, 413, 401, 404, 409, 410, 422, 503)
)
async def place_order(
    body: PlaceOrder, principal: Authenticated, shop: ShopDep, ctx: Context, response: Response
) -> Accepted:
    lines = [LineRequest(line.product_id, line.quantity) for line in body.lines]
    answer = await run(response, shop.place_order, principal.id, lines, ctx=ctx)
    response.headers["Location"] = f"/orders/{answer.id}"
    return answer


@router.post("/orders/{order_id}/pay", responses=problem_responses(*ORDER_ERRORS, 402, 502))
async def pay_order(
    order_id: UUID,
    body: PayOrder,
    principal: Authenticated,
    shop: ShopDep,
    ctx: Context,
    response: Response,
) -> Accepted:
    mine = ctx.acting(principal.acting_for)
    return await run(response, shop.pay_order, order_id, token=body.payment_token, ctx=mine)


@router.post("/orders/{order_id}/ship", responses=problem_responses(*ORDER_ERRORS, 403))
async def ship_order(
    order_id: UUID, _: Admin, shop: ShopDep, ctx: Context, response: Response
) -> Accepted:
    return await run(response, shop.ship_order, order_id, ctx=ctx)


@router.post("/orders/{order_id}/cancel", responses=problem_responses(*ORDER_ERRORS, 502))
async def cancel_order(
    order_id: UUID, principal: Authenticated, shop: ShopDep, ctx: Context, response: Response
) -> Accepted:
    mine = ctx.acting(principal.acting_for)
    return await run(response, shop.cancel_order, order_id, ctx=mine)
