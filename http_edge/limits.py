"""Rate-limit policies at the edge: a dependency per route group, and login lock-out.

Every limited request costs one counter statement (:mod:`http_edge.rate_limits`). Keys:
the token's subject when the request carries a valid one (so a whole office behind one
proxy is not one client), otherwise the client address (:mod:`http_edge.client`).
Sign-in and registration are limited per address whatever the token says, and failed
sign-ins lock the account for a while: during the lock-out even the right password
gets 429, so guessing cannot continue by slipping a success in between.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders

from http_edge.client import Network, bearer_subject, client_address
from http_edge.hit_cache import CachedRateLimiter
from http_edge.problems import ProblemError
from http_edge.rate_limits import Count, Policy, PostgresRateLimiter
from http_edge.tokens import TokenSettings


@dataclass(frozen=True)
class LimitSettings:
    enabled: bool = True
    requests: Policy = field(default_factory=lambda: Policy("api", 600, 60))
    register: Policy = field(default_factory=lambda: Policy("register", 10, 600))
    login: Policy = field(default_factory=lambda: Policy("login", 30, 60))
    login_max_failures: int = 5
    login_failure_window_seconds: int = 900
    login_lockout_seconds: int = 900
    trusted_proxies: tuple[Network, ...] = field(default=())


class RateLimits:
    """One per app, in ``app.state.limits``; ``api`` keeps the two APIs' counters apart."""

    def __init__(
        self,
        limiter: PostgresRateLimiter | None,
        settings: LimitSettings,
        tokens: TokenSettings,
        api: str,
    ) -> None:
        #: None: limits are off (settings, or an app built without a database).
        self.limiter = limiter if settings.enabled else None
        #: Per-client policies count through this; sign-in lock-outs go to PostgreSQL.
        self.cache = CachedRateLimiter(self.limiter) if self.limiter is not None else None
        self.settings = settings
        self.tokens = tokens
        self.api = api

    def address(self, request: Request) -> str:
        return client_address(request, self.settings.trusted_proxies)

    def start(self) -> None:
        if self.cache is not None:
            self.cache.start()

    def stop(self) -> None:
        if self.cache is not None:
            self.cache.stop()

    async def enforce(self, response: Response, policy: Policy, who: str) -> None:
        """Count the request; decided in memory when it can be, else in a worker thread."""
        if self.cache is None:
            return
        key = f"{self.api}:{policy.name}:{who}"
        count = self.cache.local_hit(key, policy)
        if count is None:
            count = await run_in_threadpool(self.cache.settled_hit, key, policy)
        headers = _headers(policy, count, response.headers)
        if count.hits > policy.limit:
            raise rate_limited(count.reset_seconds, headers)
        response.headers.update(headers)

    def before_login(self, account: str) -> None:
        limiter = self.limiter
        if limiter is None:
            return
        lock = limiter.peek(
            _account_key("login-lock", account), self.settings.login_lockout_seconds
        )
        if lock.hits > 0:
            raise rate_limited(lock.reset_seconds, {}, "Too many failed sign-ins; wait")

    def after_failed_login(self, account: str) -> None:
        limiter = self.limiter
        if limiter is None:
            return
        s = self.settings
        failures = limiter.hit(_account_key("login-fail", account), s.login_failure_window_seconds)
        if failures.hits >= s.login_max_failures:
            limiter.hit(_account_key("login-lock", account), s.login_lockout_seconds)


def _account_key(kind: str, account: str) -> str:
    """Counters name accounts by a hash: no email addresses in the table."""
    return f"{kind}:{hashlib.sha256(account.strip().lower().encode()).hexdigest()[:32]}"


def _headers(policy: Policy, count: Count, current: MutableHeaders) -> dict[str, str]:
    """IETF draft RateLimit headers; a second policy on one route is appended to the list."""
    remaining = max(policy.limit - count.hits, 0)
    state = f'"{policy.name}";r={remaining};t={math.ceil(count.reset_seconds)}'
    return {
        "RateLimit-Policy": _joined(current.get("RateLimit-Policy"), policy.header()),
        "RateLimit": _joined(current.get("RateLimit"), state),
    }


def _joined(existing: str | None, value: str) -> str:
    return f"{existing}, {value}" if existing else value


def rate_limited(
    reset_seconds: float, headers: dict[str, str], title: str = "Too many requests"
) -> ProblemError:
    retry = str(max(math.ceil(reset_seconds), 1))
    return ProblemError(429, "RATE_LIMITED", title, headers={**headers, "Retry-After": retry})


def _limits(request: Request) -> RateLimits:
    limits: RateLimits = request.app.state.limits
    return limits


async def per_client(request: Request, response: Response) -> None:
    """The general limit of every resource route: per token subject, else per address."""
    limits = _limits(request)
    subject = bearer_subject(request, limits.tokens)
    who = f"sub:{subject}" if subject else f"ip:{limits.address(request)}"
    await limits.enforce(response, limits.settings.requests, who)


def per_address(
    pick: Callable[[LimitSettings], Policy],
) -> Callable[[Request, Response], Awaitable[None]]:
    """A stricter limit per client address (registration, sign-in)."""

    async def dependency(request: Request, response: Response) -> None:
        limits = _limits(request)
        await limits.enforce(response, pick(limits.settings), f"ip:{limits.address(request)}")

    return dependency
