"""Security headers on every response, and CORS from an allow-list (none by default)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_ALWAYS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"referrer-policy", b"no-referrer"),
]
#: A command's answer carries its consistency token here; a query sends it back here.
CONSISTENCY_HEADER = "X-Consistency-Token"
#: Request headers a browser client may send, and response headers it may read.
CORS_REQUEST_HEADERS = [
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "If-Match",
    CONSISTENCY_HEADER,
    "X-Request-ID",
]
CORS_EXPOSED_HEADERS = [
    "ETag",
    "Location",
    "Retry-After",
    "RateLimit",
    "RateLimit-Policy",
    CONSISTENCY_HEADER,
    "X-Request-ID",
]


@dataclass(frozen=True)
class HeaderPolicy:
    #: ``Strict-Transport-Security: max-age=…`` when served over TLS; 0 sends none.
    hsts_seconds: int = 0
    #: Origins allowed to call the API from a browser; empty: no CORS at all.
    cors_origins: tuple[str, ...] = ()


class SecurityHeaders:
    """Adds the fixed headers, and ``Cache-Control: no-store`` on authenticated answers
    (and on every answer to a mutation) unless the route chose a cache policy itself."""

    def __init__(self, app: ASGIApp, hsts_seconds: int = 0) -> None:
        self.app = app
        self.extra = list(_ALWAYS)
        if hsts_seconds:
            value = f"max-age={hsts_seconds}; includeSubDomains".encode()
            self.extra.append((b"strict-transport-security", value))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        private = scope["method"] not in {"GET", "HEAD"} or any(
            name == b"authorization" for name, _ in scope["headers"]
        )

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in self.extra if h[0] not in present)
                if private and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def install_headers(app: FastAPI, policy: HeaderPolicy) -> None:
    if policy.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(policy.cors_origins),
            allow_methods=["GET", "POST", "PATCH", "OPTIONS"],
            allow_headers=CORS_REQUEST_HEADERS,
            expose_headers=CORS_EXPOSED_HEADERS,
            max_age=600,
        )
    app.add_middleware(SecurityHeaders, hsts_seconds=policy.hsts_seconds)
