"""Access tokens forged for tests: valid by default, broken by overriding a claim."""

from __future__ import annotations

import time
from uuid import uuid4

import jwt

from contracts.auth import DEV_SECRET


def forged_token(**overrides: object) -> str:
    """An admin token signed with the development secret; overrides replace claims."""
    now = int(time.time())
    claims = {
        "sub": str(uuid4()),
        "role": "admin",
        "iat": now,
        "exp": now + 60,
        "iss": "eventshop",
        "aud": "eventshop-api",
        **overrides,
    }
    return jwt.encode(claims, DEV_SECRET, algorithm="HS256")
