"""Shared route plumbing: the application, the command context, and running a command."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from contracts.faults import crash_point
from http_edge.bearer import Credentials, Need, claims_of
from http_edge.headers import CONSISTENCY_HEADER
from write_side.application.shop import CommandContext, CommandResult, Shop
from write_side.http.auth import Principal
from write_side.http.context import IdempotencyKeyHeader, IfMatchHeader, command_context, context_of
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


@dataclass(frozen=True)
class Command:
    """What a command route needs, resolved in one dependency: the application, the
    command's context (idempotency key, If-Match, cause), who sends it, and the answer's
    headers. FastAPI's cost of dependencies is paid per node solved: solving the chain
    this replaces (the principal's three, the shop, the context) was 31 % of a command
    API worker's Python time on restocks; a restock's CPU there 3.12 -> 2.72 ms
    (docs/benchmarks.md)."""

    shop: Shop
    ctx: CommandContext
    principal: Principal
    response: Response

    @property
    def mine(self) -> CommandContext:
        """The context, limited to the aggregates the principal may act on."""
        return self.ctx.acting(self.principal.acting_for)

    async def run(self, use_case: Callable[..., CommandResult], *args: Any, **kw: Any) -> Accepted:
        return await run(self.response, use_case, *args, **kw)


def _command(need: Need) -> Callable[..., Any]:
    """A dependency: a :class:`Command` from a caller's (``need="caller"``) or an admin's
    (``"admin"``) bearer token; 401/403 first, then a bad If-Match (400)."""

    async def dependency(
        request: Request,
        response: Response,
        credentials: Credentials,
        idempotency_key: IdempotencyKeyHeader = None,
        if_match: IfMatchHeader = None,
    ) -> Command:
        claims = claims_of(request, credentials, need)
        assert claims is not None
        ctx = await context_of(request, idempotency_key, if_match, str(claims.sub))
        principal = Principal(claims.sub, claims.role)
        return Command(request.app.state.shop, ctx, principal, response)

    return dependency


CallerCommand = Annotated[Command, Depends(_command("caller"))]
AdminCommand = Annotated[Command, Depends(_command("admin"))]
