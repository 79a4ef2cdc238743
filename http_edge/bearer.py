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


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def claims_of(
    request: Request, credentials: HTTPAuthorizationCredentials | None, need: str = "anyone"
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


# One hop each (the bearer scheme under it is what OpenAPI shows): FastAPI's cost of
# dependencies is paid per node of the tree solved, on every request. Routes that also need
# other things take them in one dependency that calls claims_of (read_side/http/deps.py,
# write_side/http/deps.py).


async def optional_claims(request: Request, credentials: Credentials) -> AccessClaims | None:
    """Anonymous is allowed; a token that is present must be valid."""
    return claims_of(request, credentials)


async def required_claims(request: Request, credentials: Credentials) -> AccessClaims:
    claims = claims_of(request, credentials, "caller")
    assert claims is not None
    return claims


async def admin_claims(request: Request, credentials: Credentials) -> AccessClaims:
    claims = claims_of(request, credentials, "admin")
    assert claims is not None
    return claims


Viewer = Annotated[AccessClaims | None, Depends(optional_claims)]
Caller = Annotated[AccessClaims, Depends(required_claims)]
AdminCaller = Annotated[AccessClaims, Depends(admin_claims)]
