"""Refuse NUL characters in a request's query string: PostgreSQL text cannot hold them."""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from contracts.problems import PROBLEM_MEDIA_TYPE


class RejectNulInQuery:
    """A 400 problem for ``%00`` anywhere in the query string, before any handler runs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and b"\x00" in unquote_to_bytes(scope.get("query_string", b"")):
            body = orjson.dumps(
                {
                    "type": "about:blank",
                    "title": "Query parameters must not contain NUL",
                    "status": 400,
                    "code": "BAD_REQUEST",
                }
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 400,
                    "headers": [
                        (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)
