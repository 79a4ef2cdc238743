"""Order routes: customers place, pay and cancel their own orders; admins ship."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from http_edge.problems import problem_responses
from write_side.application.shop import LineRequest
from write_side.http.deps import AdminCommand, CallerCommand
from write_side.http.models import Accepted, PayOrder, PlaceOrder

router = APIRouter(tags=["orders"])
ORDER_ERRORS = (400, 413, 401, 404, 409, 412, 422, 503)


@router.post(
    "/orders", status_code=201, responses=problem_responses(400, 413, 401, 404, 409, 410, 422, 503)
)
async def place_order(body: PlaceOrder, cmd: CallerCommand) -> Accepted:
    lines = [LineRequest(line.product_id, line.quantity) for line in body.lines]
    answer = await cmd.run(cmd.shop.place_order, cmd.principal.id, lines, ctx=cmd.ctx)
    cmd.response.headers["Location"] = f"/orders/{answer.id}"
    return answer


@router.post("/orders/{order_id}/pay", responses=problem_responses(*ORDER_ERRORS, 402, 502))
async def pay_order(order_id: UUID, body: PayOrder, cmd: CallerCommand) -> Accepted:
    return await cmd.run(cmd.shop.pay_order, order_id, token=body.payment_token, ctx=cmd.mine)


@router.post("/orders/{order_id}/ship", responses=problem_responses(*ORDER_ERRORS, 403))
async def ship_order(order_id: UUID, cmd: AdminCommand) -> Accepted:
    return await cmd.run(cmd.shop.ship_order, order_id, ctx=cmd.ctx)


@router.post("/orders/{order_id}/cancel", responses=problem_responses(*ORDER_ERRORS, 502))
async def cancel_order(order_id: UUID, cmd: CallerCommand) -> Accepted:
    return await cmd.run(cmd.shop.cancel_order, order_id, ctx=cmd.mine)
