"""Access tokens: the claims the command API issues and both APIs verify.

HS256 only (an explicit allow-list, so ``alg: none`` and algorithm confusion are
refused); ``exp``, ``iat``, ``iss``, ``aud`` and ``sub`` are required and checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from uuid import UUID

import jwt
from pydantic import BaseModel, ValidationError

ALGORITHMS = ["HS256"]
#: Development only: production start-up refuses it (and any secret under 32 bytes).
DEV_SECRET = "eventshop-development-secret-do-not-use-in-production"  # noqa: S105
MIN_SECRET_BYTES = 32


class InvalidTokenError(Exception):
    """Missing, malformed, expired, tampered with or meant for someone else."""


class AccessClaims(BaseModel):
    sub: UUID
    role: Literal["customer", "admin"]
    iat: int
    exp: int
    iss: str
    aud: str


@dataclass(frozen=True)
class TokenSettings:
    secret: str
    issuer: str = "eventshop"
    audience: str = "eventshop-api"
    ttl_seconds: int = 3600


def verify_access_token(token: str, settings: TokenSettings) -> AccessClaims:
    try:
        payload = jwt.decode(
            token,
            settings.secret,
            algorithms=ALGORITHMS,
            issuer=settings.issuer,
            audience=settings.audience,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
        return AccessClaims.model_validate(payload)
    except (jwt.PyJWTError, ValidationError) as error:
        raise InvalidTokenError(str(error)) from error


def weak_secret(secret: str) -> bool:
    return secret == DEV_SECRET or len(secret.encode()) < MIN_SECRET_BYTES
