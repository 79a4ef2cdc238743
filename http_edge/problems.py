"""The API error shape: RFC 9457 problem details with a machine-readable ``code``.

Both HTTP APIs install :func:`install_problem_handlers`, so every error a client can
see, whichever API produced it, has this one shape and media type.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Send

PROBLEM_MEDIA_TYPE = "application/problem+json"
#: What a database the running code's migration has not reached raises (a rolling deploy
#: before `eventshop migrate`, or an API started beside it): unavailable, not broken.
NOT_MIGRATED: tuple[type[Exception], ...] = (
    psycopg.errors.InvalidSchemaName,
    psycopg.errors.UndefinedTable,
    psycopg.errors.UndefinedColumn,
    psycopg.errors.UndefinedFunction,
)
log = logging.getLogger(__name__)


class Problem(BaseModel):
    """An RFC 9457 problem body; extra members (``errors``, ``current``…) are allowed."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    code: str
    detail: str | None = None


class ProblemError(Exception):
    """Raise at the HTTP edge to answer with a problem body."""

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or title)
        self.problem = Problem(status=status, code=code, title=title, detail=detail, **extra)
        self.headers = headers or {}


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        problem.model_dump(mode="json", exclude_none=True),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


_STATUS_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}


def _validation_problem(exc: RequestValidationError) -> Problem:
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    if any(e["type"] == "json_invalid" for e in errors):
        return Problem(
            status=400,
            code="MALFORMED_JSON",
            title="The request body is not valid JSON",
            errors=errors,
        )
    return Problem(
        status=422,
        code="VALIDATION_FAILED",
        title="The request is not valid",
        detail="; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors),
        errors=errors,
    )


def install_problem_handlers(
    app: FastAPI,
    *,
    unavailable: tuple[type[Exception], ...] = (),
    database_down: tuple[type[Exception], ...] = (),
) -> None:
    """Render every error as a problem; ``unavailable`` errors (a database down) and
    :data:`NOT_MIGRATED` ones are 503.

    ``database_down``: more error types that mean the database cannot be reached (an event
    store library's own), beside psycopg's (:func:`unavailable_problem`)."""

    async def on_problem(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ProblemError)
        return problem_response(exc.problem, exc.headers)

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return problem_response(_validation_problem(exc))

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _STATUS_CODES.get(exc.status_code, f"HTTP_{exc.status_code}")
        problem = Problem(status=exc.status_code, code=code, title=str(exc.detail))
        return problem_response(problem, dict(exc.headers or {}))

    async def on_unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        problem = Problem(status=500, code="INTERNAL_ERROR", title="Internal server error")
        return problem_response(problem)

    async def on_unavailable(_: Request, exc: Exception) -> JSONResponse:
        log.warning("dependency unavailable: %s: %s", type(exc).__name__, exc)
        problem, retry_after = unavailable_problem(exc, database_down)
        return problem_response(problem, {"Retry-After": str(retry_after)})

    for exc_type in (*unavailable, *NOT_MIGRATED):
        app.add_exception_handler(exc_type, on_unavailable)
    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)


def unavailable_problem(
    error: BaseException, database_down: tuple[type[Exception], ...] = ()
) -> tuple[Problem, int]:
    """The 503 for an error that is the database's, not the request's, with its Retry-After.

    The error's causes are searched, since the event store library wraps psycopg's errors:
    a full disk is ``STORAGE_FULL`` (an operator must act: retry later), a database that
    cannot be reached or dropped the connection is ``DATABASE_UNAVAILABLE`` (a restart or a
    failover: retry shortly), anything else ``SERVICE_UNAVAILABLE``.
    """
    causes = _causes(error)
    if any(isinstance(e, psycopg.errors.DiskFull) for e in causes):
        title = "The database is out of disk space; retry later with the same Idempotency-Key"
        return Problem(status=503, code="STORAGE_FULL", title=title), 30
    down: tuple[type[Exception], ...] = (
        psycopg.OperationalError,
        psycopg.InterfaceError,
        *database_down,
    )
    if any(isinstance(e, down) for e in causes):
        title = "The database cannot be reached; retry shortly with the same Idempotency-Key"
        return Problem(status=503, code="DATABASE_UNAVAILABLE", title=title), 2
    return Problem(status=503, code="SERVICE_UNAVAILABLE", title="Try again shortly"), 1


def _causes(error: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in found and len(found) < 10:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


#: For ``responses=`` in route declarations, so OpenAPI documents the problem shape.
def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": Problem, "content": {PROBLEM_MEDIA_TYPE: {}}} for status in statuses}


async def send_problem(send: Send, status: int, code: str, title: str) -> None:
    """Answer with a problem body straight from ASGI middleware, before any route runs."""
    body = orjson.dumps({"type": "about:blank", "title": title, "status": status, "code": code})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
