"""Who is asking: bearer tokens on the query API (verified with ``http_edge.tokens``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from http_edge.client import verified_claims
from http_edge.problems import ProblemError
from http_edge.tokens import AccessClaims, InvalidTokenError, TokenSettings

_bearer = HTTPBearer(auto_error=False, description="An access token from POST /auth/token")


def _unauthorized(detail: str) -> ProblemError:
    return ProblemError(
        401,
        "UNAUTHORIZED",
        "A valid access token is required",
        detail=detail,
        headers={"WWW-Authenticate": "Bearer"},
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
        raise _unauthorized(str(error)) from error


async def required_claims(
    claims: Annotated[AccessClaims | None, Depends(optional_claims)],
) -> AccessClaims:
    if claims is None:
        raise _unauthorized("send Authorization: Bearer <token>")
    return claims


async def admin_claims(claims: Annotated[AccessClaims, Depends(required_claims)]) -> AccessClaims:
    if claims.role != "admin":
        raise ProblemError(403, "FORBIDDEN", "Only an admin may see this")
    return claims


Viewer = Annotated[AccessClaims | None, Depends(optional_claims)]
Caller = Annotated[AccessClaims, Depends(required_claims)]
AdminCaller = Annotated[AccessClaims, Depends(admin_claims)]


def may_see(claims: AccessClaims, owner: object) -> bool:
    return claims.role == "admin" or claims.sub == owner
