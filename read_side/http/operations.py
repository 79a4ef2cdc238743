"""For operators and orchestrators: projection positions, liveness and readiness."""

from __future__ import annotations

import psycopg
from fastapi import APIRouter
from psycopg_pool import PoolTimeout

from contracts.rows import ProjectionPartition
from http_edge.problems import ProblemError, problem_responses
from read_side.auth import AdminCaller
from read_side.http.deps import Ctx
from read_side.projection_status import projection_status

router = APIRouter(tags=["operations"])


@router.get("/projections", responses=problem_responses(401, 403, 503))
def projections(_: AdminCaller, ctx: Ctx) -> list[ProjectionPartition]:
    with ctx.pool.connection() as conn:
        return projection_status(conn, ctx.schema)


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses=problem_responses(503))
def readyz(ctx: Ctx) -> dict[str, str]:
    try:
        with ctx.pool.connection(timeout=2) as conn:
            conn.execute("SELECT 1")
    except (psycopg.Error, PoolTimeout) as error:
        raise ProblemError(503, "NOT_READY", "read database unavailable") from error
    return {"status": "ready"}
