"""Who is asking: the bearer-token check both APIs use.

:func:`claims_of` gives a request's verified claims for what a route needs: ``"anyone"``
(anonymous allowed; a token that is present must be valid: 401 with
``WWW-Authenticate: Bearer error="invalid_token"``), ``"caller"`` (a token required) or
``"admin"`` (an admin's, 403 otherwise). Routes call it from the one dependency that
resolves all they need (``read_side/http/deps.py``, ``write_side/http/deps.py``), over
:data:`Credentials`, the bearer scheme OpenAPI shows; :data:`AdminCaller` is it alone.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from http_edge.client import verified_claims
from http_edge.problems import ProblemError
from http_edge.tokens import AccessClaims, InvalidTokenError, TokenSettings

_bearer = HTTPBearer(auto_error=False, description="An access token from POST /auth/token")


def unauthorized(detail: str, error: str | None = None) -> ProblemError:
    challenge = "Bearer" if error is None else f'Bearer error="{error}"'
    return ProblemError(
        401,
        "UNAUTHORIZED",
        "A valid access token is required",
        detail=detail,
        headers={"WWW-Authenticate": challenge},
    )


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
Need = Literal["anyone", "caller", "admin"]


def claims_of(
    request: Request, credentials: HTTPAuthorizationCredentials | None, need: Need = "anyone"
) -> AccessClaims | None:
    """The caller's verified claims, None for anonymous if ``need`` is ``"anyone"``;
    ``"caller"`` requires a token (401), ``"admin"`` an admin's (403)."""
    claims = None
    if credentials is not None:
        settings: TokenSettings = request.app.state.tokens
        try:
            claims = verified_claims(request, credentials.credentials, settings)
        except InvalidTokenError as error:
            raise unauthorized(str(error), "invalid_token") from error
    if need == "anyone":
        return claims
    if claims is None:
        raise unauthorized("send Authorization: Bearer <token>")
    if need == "admin" and claims.role != "admin":
        raise ProblemError(403, "FORBIDDEN", "Only an admin may do this")
    return claims


async def admin_claims(request: Request, credentials: Credentials) -> AccessClaims:
    """One hop over the bearer scheme: FastAPI pays for dependencies per node solved."""
    claims = claims_of(request, credentials, "admin")
    assert claims is not None
    return claims


AdminCaller = Annotated[AccessClaims, Depends(admin_claims)]
