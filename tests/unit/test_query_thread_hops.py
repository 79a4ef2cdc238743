"""The query API's routes run on the event loop: FastAPI runs a plain ``def`` dependency in
a worker thread, one thread hand-off per request (a lock, a wake-up, a queue), and the
query API's dependencies do no blocking work that would need one (docs/benchmarks.md)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from http_edge.tokens import DEV_SECRET, TokenSettings
from read_side.http.app import create_query_app

#: Plain ``def`` on purpose: they block (the ops page's database reads, the probe).
BLOCKING_ENDPOINTS = {"/projections", "/ops", "/ops/login", "/ops/logout", "/readyz"}


def _routes() -> list[tuple[APIRoute, list[Dependant]]]:
    app = create_query_app(
        read_database_url="postgresql://nobody@/nowhere",
        schema="rm",
        tokens=TokenSettings(DEV_SECRET),
    )
    found = []
    for top in app.routes:
        included = getattr(top, "original_router", None)
        shared = list(getattr(getattr(top, "include_context", None), "dependencies", []))
        for route in included.routes if included is not None else [top]:
            if isinstance(route, APIRoute):
                found.append(
                    (route, _flat(route.dependant) + [Dependant(call=d.dependency) for d in shared])
                )
    return found


def _on_the_loop(call: Callable[..., Any]) -> bool:
    """What FastAPI awaits instead of sending to a thread: a coroutine function, or an
    instance whose ``__call__`` is one (the bearer scheme)."""
    if inspect.isroutine(call):
        return inspect.iscoroutinefunction(call)
    return inspect.iscoroutinefunction(type(call).__call__)


def _flat(dependant: Dependant) -> list[Dependant]:
    return [d for sub in dependant.dependencies for d in (sub, *_flat(sub))]


def test_no_dependency_of_a_query_route_runs_in_a_worker_thread() -> None:
    routes = _routes()
    assert any(r.path == "/products" for r, _ in routes)
    threaded = {
        (route.path, getattr(d.call, "__qualname__", repr(d.call)))
        for route, dependants in routes
        for d in dependants
        if d.call is not None and not _on_the_loop(d.call)
    }
    assert threaded == set()


def test_only_the_blocking_endpoints_run_in_a_worker_thread() -> None:
    threaded = {r.path for r, _ in _routes() if not _on_the_loop(r.endpoint)}
    assert threaded == BLOCKING_ENDPOINTS
