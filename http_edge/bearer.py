"""Who is asking: the bearer-token dependencies both APIs use.

Anonymous is allowed where a route takes :data:`Viewer`; a token that is present must be
valid (401 with ``WWW-Authenticate: Bearer error="invalid_token"``). :data:`Caller`
requires one, :data:`AdminCaller` an admin's (403 otherwise).
"""

from __future__ import annotations

from typing import Annotated

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


async def optional_claims(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> AccessClaims | None:
    """Anonymous is allowed; a token that is present must be valid."""
    if credentials is None:
        return None
    settings: TokenSettings = request.app.state.tokens
    try:
        return verified_claims(request, credentials.credentials, settings)
    except InvalidTokenError as error:
        raise unauthorized(str(error), "invalid_token") from error


async def required_claims(
    claims: Annotated[AccessClaims | None, Depends(optional_claims)],
) -> AccessClaims:
    if claims is None:
        raise unauthorized("send Authorization: Bearer <token>")
    return claims


async def admin_claims(claims: Annotated[AccessClaims, Depends(required_claims)]) -> AccessClaims:
    if claims.role != "admin":
        raise ProblemError(403, "FORBIDDEN", "Only an admin may do this")
    return claims


Viewer = Annotated[AccessClaims | None, Depends(optional_claims)]
Caller = Annotated[AccessClaims, Depends(required_claims)]
AdminCaller = Annotated[AccessClaims, Depends(admin_claims)]
