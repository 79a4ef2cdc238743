"""Refuse NUL characters in a request's query string: PostgreSQL text cannot hold them."""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Receive, Scope, Send

from http_edge.problems import send_problem


class RejectNulInQuery:
    """A 400 problem for ``%00`` anywhere in the query string, before any handler runs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and b"\x00" in unquote_to_bytes(scope.get("query_string", b"")):
            await send_problem(send, 400, "BAD_REQUEST", "Query parameters must not contain NUL")
            return
        await self.app(scope, receive, send)
