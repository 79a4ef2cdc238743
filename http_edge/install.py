"""Install the shared edge on an app: security headers, CORS and rate limits."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import APIRouter, Depends, FastAPI
from fastapi.params import Depends as DependsParam

from http_edge.headers import HeaderPolicy, install_headers
from http_edge.limits import LimitSettings, RateLimits, per_client
from http_edge.problems import problem_responses
from http_edge.rate_limits import PostgresRateLimiter
from http_edge.tokens import TokenSettings


@dataclass(frozen=True)
class EdgeSettings:
    headers: HeaderPolicy = field(default_factory=HeaderPolicy)
    limits: LimitSettings = field(default_factory=LimitSettings)


def install_edge(
    app: FastAPI,
    *,
    api: str,
    tokens: TokenSettings,
    edge: EdgeSettings,
    limiter: PostgresRateLimiter | None,
) -> RateLimits:
    """Returns the app's limits: start them with the app's resources, stop them last."""
    app.state.limits = limits = RateLimits(limiter, edge.limits, tokens, api)
    install_headers(app, edge.headers)
    return limits


def include_limited(app: FastAPI, router: APIRouter) -> None:
    """Include a resource router behind the per-client limit (and document its 429)."""
    app.include_router(router, dependencies=LIMITED, responses=problem_responses(429))


LIMITED: list[DependsParam] = [Depends(per_client)]
