"""Shared route plumbing: the application, the command context, and running a command."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request, Response

from contracts.faults import crash_point
from write_side.application import CommandContext, CommandResult, Shop
from write_side.http.context import command_context
from write_side.http.errors import HANDLED, problem_for
from write_side.http.models import Accepted

CONSISTENCY_HEADER = "X-Consistency-Token"


def _shop(request: Request) -> Shop:
    shop: Shop = request.app.state.shop
    return shop


ShopDep = Annotated[Shop, Depends(_shop)]
Context = Annotated[CommandContext, Depends(command_context)]


def run(
    shop: Shop, ctx: CommandContext, response: Response, command: Callable[[], CommandResult]
) -> Accepted:
    """Run once per idempotency key; map errors; set the token and ETag headers."""
    try:
        result = shop.idempotent(ctx, command)
    except HANDLED as error:
        raise problem_for(error) from error
    # Committed, not answered: the client sees a broken connection and retries the key.
    crash_point("command.after_commit")
    response.headers[CONSISTENCY_HEADER] = result.consistency_token
    response.headers["ETag"] = f'"{result.version}"'
    return Accepted(
        id=result.id, version=result.version, consistency_token=result.consistency_token
    )
