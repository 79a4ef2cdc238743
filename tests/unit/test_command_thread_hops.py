"""A command route hops to a worker thread once, for its use case: FastAPI runs a plain
``def`` route in a thread and then checks its answer against the response model in a
second one (docs/operations.md, "Throughput")."""

from __future__ import annotations

import inspect

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from write_side.http import catalog, customers, orders

#: Plain ``def`` on purpose: rare, and blocking from their first line (a password hash,
#: a rate-limit check in PostgreSQL, a database read).
BLOCKING_ENDPOINTS = {"/auth/token", "/customers/{customer_id}/erasure"}


def _routes() -> list[APIRoute]:
    return [
        route
        for module in (catalog, customers, orders)
        for route in module.router.routes
        if isinstance(route, APIRoute)
    ]


def test_every_command_route_is_a_coroutine() -> None:
    routes = _routes()
    assert {"/orders", "/products/{product_id}/stock", "/customers"} <= {r.path for r in routes}
    threaded = {
        route.path
        for route in routes
        if not inspect.iscoroutinefunction(route.endpoint) and route.path not in BLOCKING_ENDPOINTS
    }
    assert threaded == set()


def test_the_dependencies_of_a_command_route_run_on_the_loop() -> None:
    def flat(dependant: Dependant) -> list[Dependant]:
        return [d for sub in dependant.dependencies for d in (sub, *flat(sub))]

    threaded = {
        (route.path, getattr(d.call, "__qualname__", repr(d.call)))
        for route in _routes()
        if route.path not in BLOCKING_ENDPOINTS
        for d in flat(route.dependant)
        if d.call is not None
        and not inspect.iscoroutinefunction(
            d.call if inspect.isroutine(d.call) else type(d.call).__call__
        )
    }
    assert threaded == set()
