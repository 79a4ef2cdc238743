"""``GET /ops``: the operators' page, server-rendered HTML for admins (read-only).

Sign-in is a form (``POST /ops/login``): the query API cannot check passwords (its role
reads read models only), so it asks the command API's ``POST /auth/token``, as any client
would, and keeps the admin's access token in a cookie that scripts cannot read
(``HttpOnly``), that no other site's page sends (``SameSite=Strict``) and that only
``/ops`` receives. An ``Authorization: Bearer`` header works as well. Anyone else gets 401
(or 403 for a signed-in customer) with the sign-in form. No script runs on the page; it
reloads itself every few seconds.
"""

from __future__ import annotations

from typing import Annotated

import httpx2
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from http_edge.client import verified_claims
from http_edge.tokens import AccessClaims, InvalidTokenError
from read_side.http.deps import Ctx
from read_side.operations.overview import OpsView, ops_view

router = APIRouter(include_in_schema=False)  # a page for people, not part of the API

COOKIE = "eventshop_ops"
REFRESH_SECONDS = 5
_PAGE = Environment(
    loader=PackageLoader("read_side", "templates"), autoescape=select_autoescape(["html"])
).get_template("ops.html")
_HEADERS = {
    "Cache-Control": "no-store",
    # Only the page's own inline style; forms post back here; never framed.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self';"
        " frame-ancestors 'none'; base-uri 'none'"
    ),
}


def _page(status: int, *, view: OpsView | None = None, message: str = "") -> HTMLResponse:
    body = _PAGE.render(view=view, message=message, refresh=REFRESH_SECONDS)
    return HTMLResponse(body, status_code=status, headers=_HEADERS)


def _claims(request: Request) -> AccessClaims | None:
    scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
    token = bearer.strip() if scheme.lower() == "bearer" else request.cookies.get(COOKIE, "")
    if not token:
        return None
    try:
        return verified_claims(request, token, request.app.state.tokens)
    except InvalidTokenError:
        return None


@router.get("/ops")
def ops_page(request: Request, ctx: Ctx) -> Response:
    claims = _claims(request)
    if claims is None:
        return _page(401, message="Sign in as an admin to see the system's state.")
    if claims.role != "admin":
        return _page(403, message="This page is for admins; sign in as one.")
    with ctx.pool.connection() as conn:
        return _page(200, view=ops_view(conn, ctx.schema, ctx.topic_prefix))


@router.post("/ops/login")
def ops_login(
    request: Request,
    username: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1024)],
) -> Response:
    url = f"{request.app.state.ops_login_url.rstrip('/')}/auth/token"
    try:
        answer = httpx2.post(url, data={"username": username, "password": password}, timeout=10)
    except httpx2.HTTPError:
        page = _page(503, message="The command API cannot be reached; try again shortly.")
        page.headers["Retry-After"] = "5"
        return page
    if answer.status_code != 200:
        refused = {401: "Wrong email or password.", 429: "Too many attempts; wait a little."}
        page = _page(
            answer.status_code if answer.status_code in (401, 429) else 503,
            message=refused.get(answer.status_code, "Signing in is not possible now."),
        )
        if "Retry-After" in answer.headers:
            page.headers["Retry-After"] = answer.headers["Retry-After"]
        return page
    token = str(answer.json()["access_token"])
    claims = verified_claims(request, token, request.app.state.tokens)
    if claims.role != "admin":
        return _page(403, message="This page is for admins; sign in as one.")
    redirect = RedirectResponse("/ops", status_code=303, headers=_HEADERS)
    redirect.set_cookie(
        COOKIE,
        token,
        max_age=int(answer.json().get("expires_in", 3600)),
        path="/ops",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return redirect


@router.post("/ops/logout")
def ops_logout() -> Response:
    redirect = RedirectResponse("/ops", status_code=303, headers=_HEADERS)
    redirect.delete_cookie(COOKIE, path="/ops", httponly=True, samesite="strict")
    return redirect
