"""Every request has an id: the client's ``X-Request-ID``, else the trace id of a W3C
``traceparent``, else a new one. It is echoed in the answer's ``X-Request-ID``, bound to
every log line written while the request is served (``request_id``), and, for a command,
recorded as the correlation id of the events it causes (``contracts.causation``).

A client's id is kept as sent when it is 1 to 128 printable ASCII characters without
spaces; anything else is a 400 ``INVALID_REQUEST_ID`` (an id that cannot be logged or
echoed safely is not quietly replaced).
"""

from __future__ import annotations

import re
import uuid

import structlog
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from http_edge.problems import send_problem

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_ID = re.compile(r"[\x21-\x7e]{1,128}")
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")


def request_id_of(headers: Headers) -> str | None:
    """The request's id from its headers, a new one, or None when the client's is invalid."""
    given = headers.get(REQUEST_ID_HEADER)
    if given is not None:
        return given if _VALID_ID.fullmatch(given) else None
    trace = _TRACEPARENT.fullmatch(headers.get("traceparent", "").strip())
    if trace and trace[1] != "0" * 32:
        return trace[1]
    return uuid.uuid4().hex


class Correlation:
    """ASGI middleware: finds or makes the request id, binds and echoes it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(Headers(scope=scope))
        if request_id is None:
            await send_problem(
                send,
                400,
                "INVALID_REQUEST_ID",
                f"{REQUEST_ID_HEADER} must be 1 to 128 printable ASCII characters, no spaces",
            )
            return
        scope.setdefault("state", {})["request_id"] = request_id
        echoed = (REQUEST_ID_HEADER.lower().encode(), request_id.encode())

        async def echo(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), echoed]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            await self.app(scope, receive, echo)


def request_id(scope: Scope) -> str:
    """The id :class:`Correlation` gave this request (a new one if it did not run)."""
    found = scope.get("state", {}).get("request_id")
    return str(found) if found else uuid.uuid4().hex
