"""Every command and query route is solved from at most three dependency nodes.

FastAPI pays for dependencies per node of a route's tree, on every request (cache keys,
parameter extraction, validation): a chain of small ones (the claims under the principal
under the route, the context, the wait) was a third of an API worker's Python time. Routes
take what they need in one dependency that resolves it all (``Reader``, ``Command``), over
the bearer scheme OpenAPI shows (docs/benchmarks.md)."""

from __future__ import annotations

from types import ModuleType

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

import read_side.http.customers as read_customers
import read_side.http.orders as read_orders
import read_side.http.products as read_products
import read_side.http.reports as read_reports
from write_side.http import catalog, customers, orders

MAX_NODES = 3
MODULES = [catalog, customers, orders, read_customers, read_orders, read_products, read_reports]


def _flat(dependant: Dependant) -> list[Dependant]:
    return [d for sub in dependant.dependencies for d in (sub, *_flat(sub))]


def _name(dependant: Dependant) -> str:
    return getattr(dependant.call, "__qualname__", type(dependant.call).__name__)


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_each_route_solves_few_dependencies(module: ModuleType) -> None:
    routes = [r for r in module.router.routes if isinstance(r, APIRoute)]
    assert routes
    heavy = {
        f"{sorted(r.methods or ())} {r.path}": [_name(d) for d in _flat(r.dependant)]
        for r in routes
        if len(_flat(r.dependant)) > MAX_NODES
    }
    assert heavy == {}
