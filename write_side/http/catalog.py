"""Catalog and inventory routes: admin only."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from http_edge.problems import problem_responses
from write_side.http.auth import Admin
from write_side.http.deps import Context, ShopDep, run
from write_side.http.models import Accepted, AdjustStock, ChangeProduct, CreateProduct

router = APIRouter(tags=["catalog"])
CHANGE_ERRORS = problem_responses(400, 413, 401, 403, 404, 409, 412, 422, 503)


@router.post(
    "/products", status_code=201, responses=problem_responses(400, 413, 401, 403, 409, 422, 503)
)
async def create_product(
    body: CreateProduct, _: Admin, shop: ShopDep, ctx: Context, response: Response
) -> Accepted:
    answer = await run(response, shop.create_product, **body.command(), ctx=ctx)
    response.headers["Location"] = f"/products/{answer.id}"
    return answer


@router.patch("/products/{product_id}", responses=CHANGE_ERRORS)
async def change_product(
    product_id: UUID,
    body: ChangeProduct,
    _: Admin,
    shop: ShopDep,
    ctx: Context,
    response: Response,
) -> Accepted:
    return await run(response, shop.change_product, product_id, **body.command(), ctx=ctx)


@router.post("/products/{product_id}/publish", responses=CHANGE_ERRORS)
async def publish_product(
    product_id: UUID, _: Admin, shop: ShopDep, ctx: Context, response: Response
) -> Accepted:
    return await run(response, shop.publish_product, product_id, ctx=ctx)


@router.post("/products/{product_id}/archive", responses=CHANGE_ERRORS)
async def archive_product(
    product_id: UUID, _: Admin, shop: ShopDep, ctx: Context, response: Response
) -> Accepted:
    return await run(response, shop.archive_product, product_id, ctx=ctx)


@router.post("/products/{product_id}/stock", responses=CHANGE_ERRORS)
async def adjust_stock(
    product_id: UUID,
    body: AdjustStock,
    _: Admin,
    shop: ShopDep,
    ctx: Context,
    response: Response,
) -> Accepted:
    return await run(
        response, shop.adjust_stock, product_id, delta=body.delta, reason=body.reason, ctx=ctx
    )
