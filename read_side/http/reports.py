"""Reports for admins: products low on stock, sales per day."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from contracts.rows import ProductView, SalesDay
from http_edge.problems import ProblemError, problem_responses
from read_side.http.deps import AdminProductsRead, AdminSalesRead, Limit
from read_side.http.validators import NOT_MODIFIED
from read_side.queries import reports

MAX_REPORT_DAYS = 366
router = APIRouter(
    tags=["reports"], responses={**NOT_MODIFIED, **problem_responses(400, 401, 403, 422, 503)}
)


@router.get("/reports/low-stock")
async def low_stock_report(
    read: AdminProductsRead,
    threshold: Annotated[int, Query(ge=0, le=10**9)] = 5,
    limit: Limit = 100,
) -> list[ProductView]:
    return await read(
        lambda conn: reports.low_stock(conn, read.ctx.schema, threshold=threshold, limit=limit)
    )


@router.get("/reports/sales")
async def sales_report(
    read: AdminSalesRead,
    start: Annotated[date, Query(alias="from")],
    end: Annotated[date, Query(alias="to")],
) -> list[SalesDay]:
    if end < start or (end - start).days > MAX_REPORT_DAYS:
        raise ProblemError(
            422, "INVALID_FILTER", f"'to' must be 0 to {MAX_REPORT_DAYS} days after 'from'"
        )
    return await read(lambda conn: reports.sales(conn, read.ctx.schema, start=start, end=end))
