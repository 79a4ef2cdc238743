"""Rate-limit policies at the edge: a dependency per route group, and the sign-in throttle.

Every limited request costs one counter statement (:mod:`http_edge.rate_limits`). Keys:
the token's subject when the request carries a valid one (so a whole office behind one
proxy is not one client), otherwise the client address (:mod:`http_edge.client`).
Sign-in and registration are limited per address whatever the token says.

Failed sign-ins throttle the pair (account, client address), with growing delays: after
``login_max_failures`` failures from one address, that address waits
``login_first_delay_seconds`` before it may try that account again, twice as long after the
next failure, up to ``login_lockout_seconds``. During a delay even the right password gets
429 from that address, so guessing cannot continue by slipping a success in between; the
account's owner, from another address, is not affected: a stranger cannot lock them out.
Guessing spread over many addresses meets a second throttle per account
(``login_account_max_failures`` failures in the window, from anywhere): then every address
waits ``login_account_delay_seconds``, a short delay that slows a botnet and costs the
owner at most that (docs/operations.md, "Rate limits", against the OWASP Authentication
Cheat Sheet).
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
    login_first_delay_seconds: int = 30
    login_account_max_failures: int = 100
    login_account_delay_seconds: int = 60
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

    def before_login(self, account: str, address: str) -> None:
        """429 while this address waits out a delay for this account, or the account does."""
        limiter = self.limiter
        if limiter is None:
            return
        s = self.settings
        for key in (
            _pair_key("login-delay", account, address),
            _account_key("login-slow", account),
        ):
            delay = limiter.peek(key, s.login_lockout_seconds)
            if delay.hits > 0:
                raise rate_limited(delay.reset_seconds, {}, "Too many failed sign-ins; wait")

    def after_failed_login(self, account: str, address: str) -> None:
        limiter = self.limiter
        if limiter is None:
            return
        s = self.settings
        window = s.login_failure_window_seconds
        failures = limiter.hit(_pair_key("login-fail", account, address), window).hits
        if failures >= s.login_max_failures:
            doubled = s.login_first_delay_seconds * 2 ** min(failures - s.login_max_failures, 20)
            delay = min(doubled, s.login_lockout_seconds)
            limiter.hit(_pair_key("login-delay", account, address), delay)
        everywhere = limiter.hit(_account_key("login-fail", account), window).hits
        if everywhere >= s.login_account_max_failures:
            limiter.hit(_account_key("login-slow", account), s.login_account_delay_seconds)


def _account_key(kind: str, account: str) -> str:
    """Counters name accounts by a hash: no email addresses in the table."""
    return f"{kind}:{hashlib.sha256(account.strip().lower().encode()).hexdigest()[:32]}"


def _pair_key(kind: str, account: str, address: str) -> str:
    return f"{_account_key(kind, account)}:{address}"


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
