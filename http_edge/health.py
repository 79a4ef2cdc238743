"""``/healthz`` and ``/readyz``, the same on both APIs.

``/healthz``: the process answers. ``/readyz``: ``check()`` reached the API's database
(503 ``NOT_READY`` with Retry-After if it raised one of ``errors``), so an orchestrator or
balancer sends requests only to workers that can serve them.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter

from http_edge.problems import ProblemError, problem_responses


def health_router(
    check: Callable[[], object],
    what: str,
    errors: tuple[type[Exception], ...],
    detail: Callable[[], dict[str, str]] | None = None,
) -> APIRouter:
    """``detail()``: more of what ``/readyz`` shows (the state of a dependency that does
    not make the process unready, such as the payment gateway's circuit breaker)."""
    router = APIRouter(tags=["operations"])

    # A coroutine: liveness needs no worker thread, so it answers even while every thread
    # is busy with commands (a probe that queued behind them would get a live process killed).
    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", responses=problem_responses(503))
    def readyz() -> dict[str, str]:
        try:
            check()
        except errors as error:
            raise ProblemError(
                503, "NOT_READY", f"{what} down", headers={"Retry-After": "1"}
            ) from error
        return {"status": "ready", **(detail() if detail else {})}

    return router
