"""Shared route plumbing: the application, the command context, and running a command."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from contracts.faults import crash_point
from http_edge.headers import CONSISTENCY_HEADER
from write_side.application.shop import CommandContext, CommandResult, Shop
from write_side.http.context import command_context
from write_side.http.models import Accepted


async def _shop(request: Request) -> Shop:
    """Async: a sync dependency would cost every command a hop to a worker thread."""
    shop: Shop = request.app.state.shop
    return shop


ShopDep = Annotated[Shop, Depends(_shop)]
Context = Annotated[CommandContext, Depends(command_context)]


async def run(
    response: Response, use_case: Callable[..., CommandResult], *args: Any, **kwargs: Any
) -> Accepted:
    """Run a use case and answer what every command answers: the result, its consistency
    token and ETag headers. The use case blocks on PostgreSQL, so it alone goes to a worker
    thread: routes are coroutines, because a plain ``def`` route costs two hops, the second
    to check the answer against its model (docs/operations.md, "Throughput").

    Idempotency, If-Match and retries happen in the use case (``shop_base.use_case``);
    its errors become problems through the handlers ``install_error_handlers`` registered.
    """
    result = await run_in_threadpool(use_case, *args, **kwargs)
    # Committed, not answered: the client sees a broken connection and retries the key.
    crash_point("command.after_commit")
    response.headers[CONSISTENCY_HEADER] = result.consistency_token
    response.headers["ETag"] = f'"{result.version}"'
    return Accepted(
        id=result.id, version=result.version, consistency_token=result.consistency_token
    )
