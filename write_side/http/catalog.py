"""Catalog and inventory routes: admin only."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from http_edge.problems import problem_responses
from write_side.http.deps import AdminCommand
from write_side.http.models import Accepted, AdjustStock, ChangeProduct, CreateProduct

router = APIRouter(tags=["catalog"])
CHANGE_ERRORS = problem_responses(400, 413, 401, 403, 404, 409, 412, 422, 503)


@router.post(
    "/products", status_code=201, responses=problem_responses(400, 413, 401, 403, 409, 422, 503)
)
async def create_product(body: CreateProduct, cmd: AdminCommand) -> Accepted:
    answer = await cmd.run(cmd.shop.create_product, **body.command(), ctx=cmd.ctx)
    cmd.response.headers["Location"] = f"/products/{answer.id}"
    return answer


@router.patch("/products/{product_id}", responses=CHANGE_ERRORS)
async def change_product(product_id: UUID, body: ChangeProduct, cmd: AdminCommand) -> Accepted:
    return await cmd.run(cmd.shop.change_product, product_id, **body.command(), ctx=cmd.ctx)


@router.post("/products/{product_id}/publish", responses=CHANGE_ERRORS)
async def publish_product(product_id: UUID, cmd: AdminCommand) -> Accepted:
    return await cmd.run(cmd.shop.publish_product, product_id, ctx=cmd.ctx)


@router.post("/products/{product_id}/archive", responses=CHANGE_ERRORS)
async def archive_product(product_id: UUID, cmd: AdminCommand) -> Accepted:
    return await cmd.run(cmd.shop.archive_product, product_id, ctx=cmd.ctx)


@router.post("/products/{product_id}/stock", responses=CHANGE_ERRORS)
async def adjust_stock(product_id: UUID, body: AdjustStock, cmd: AdminCommand) -> Accepted:
    return await cmd.run(
        cmd.shop.adjust_stock, product_id, delta=body.delta, reason=body.reason, ctx=cmd.ctx
    )
