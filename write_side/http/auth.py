"""Who is calling: bearer-token dependencies for the command API's routes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from http_edge.client import verified_claims
from http_edge.problems import ProblemError
from http_edge.tokens import InvalidTokenError, TokenSettings

_bearer = HTTPBearer(auto_error=False, description="An access token from POST /auth/token")


@dataclass(frozen=True)
class Principal:
    id: UUID
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def acting_for(self) -> UUID | None:
        """Whose aggregates this token may act on: its own customer's, or (admin) anyone's."""
        return None if self.is_admin else self.id


def _unauthorized(detail: str, error: str | None = None) -> ProblemError:
    challenge = "Bearer" if error is None else f'Bearer error="{error}"'
    return ProblemError(
        401,
        "UNAUTHORIZED",
        "A valid access token is required",
        detail=detail,
        headers={"WWW-Authenticate": challenge},
    )


def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise _unauthorized("send Authorization: Bearer <token>")
    settings: TokenSettings = request.app.state.tokens
    try:
        claims = verified_claims(request, credentials.credentials, settings)
    except InvalidTokenError as error:
        raise _unauthorized(str(error), "invalid_token") from error
    return Principal(claims.sub, claims.role)


def admin_principal(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if not principal.is_admin:
        raise ProblemError(403, "FORBIDDEN", "Only an admin may do this")
    return principal


Authenticated = Annotated[Principal, Depends(current_principal)]
Admin = Annotated[Principal, Depends(admin_principal)]
