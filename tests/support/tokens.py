"""Access tokens forged for tests: valid by default, broken by overriding a claim."""

from __future__ import annotations

import time
from uuid import uuid4

import jwt

from tests.support.stack import TEST_SECRET


def claims(**overrides: object) -> dict[str, object]:
    """An admin's claims, issued now for a minute; overrides replace claims."""
    now = int(time.time())
    valid: dict[str, object] = {
        "sub": str(uuid4()),
        "role": "admin",
        "iat": now,
        "exp": now + 60,
        "iss": "eventshop",
        "aud": "eventshop-api",
    }
    return {**valid, **overrides}


def forged_token(secret: str = TEST_SECRET, **overrides: object) -> str:
    """An admin token signed with the tests' secret; overrides replace claims."""
    return jwt.encode(claims(**overrides), secret, algorithm="HS256")
