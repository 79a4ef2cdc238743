"""For operators: projection positions, owners and lag (liveness and readiness are
``http_edge.health``, registered by the app factory); for consumers of the topics: the
AsyncAPI document."""

from __future__ import annotations

import functools
from typing import Any

from fastapi import APIRouter

from contracts.asyncapi import asyncapi
from contracts.rows import ProjectionPartition
from http_edge.problems import problem_responses
from read_side.auth import AdminCaller
from read_side.http.deps import Ctx
from read_side.operations.projection_status import projection_status

router = APIRouter(tags=["operations"])


@router.get("/projections", responses=problem_responses(401, 403, 503))
def projections(_: AdminCaller, ctx: Ctx) -> list[ProjectionPartition]:
    with ctx.pool.connection() as conn:
        return projection_status(conn, ctx.schema, ctx.topic_prefix)


@router.get("/asyncapi.json", summary="The published topics and their messages (AsyncAPI 3)")
async def asyncapi_document(ctx: Ctx) -> dict[str, Any]:
    return _document(ctx.topic_prefix)


@functools.cache
def _document(topic_prefix: str) -> dict[str, Any]:
    return asyncapi(topic_prefix)
