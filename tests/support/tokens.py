"""Access tokens forged for tests: valid by default, broken by overriding a claim, and
the sweep of broken ones every protected route of both APIs must refuse with 401."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable
from uuid import uuid4

import jwt

from tests.support.credentials import TEST_SECRET


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


def _tampered() -> str:
    """A valid token whose payload was changed after signing (role and subject kept)."""
    header, payload, signature = forged_token().split(".")
    body = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    changed = body.replace(b'"iat":', b'"iat": ', 1)  # same claims, other bytes
    return ".".join([header, base64.urlsafe_b64encode(changed).decode().rstrip("="), signature])


def _signed_with_empty_key() -> str:
    """HS256 with an empty key (PyJWT refuses to make one; an attacker would not)."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    header = part(b'{"alg":"HS256","typ":"JWT"}')
    payload = part(json.dumps(claims()).encode())
    signature = hmac.new(b"", f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{part(signature)}"


#: Built when each test runs (a token made at import would expire during the session).
#: Each is valid in every respect but the one its name says.
BAD_TOKENS: dict[str, Callable[[], str | None]] = {
    "missing": lambda: None,
    "expired": lambda: forged_token(exp=int(time.time()) - 1),
    "future nbf": lambda: forged_token(nbf=int(time.time()) + 600),
    "wrong iss": lambda: forged_token(iss="someone-else"),
    "wrong aud": lambda: forged_token(aud="another-api"),
    "tampered": _tampered,
    "alg none": lambda: jwt.encode(claims(), None, algorithm="none"),  # type: ignore[arg-type]
    "empty key": _signed_with_empty_key,
    "other secret": lambda: forged_token("another-secret-that-is-long-enough!!"),
    "not a jwt": lambda: "abc.def.ghi",
}


def concrete(path: str) -> str:
    """An OpenAPI path template with a fresh id in every parameter."""
    return re.sub(r"\{[a-z_]+\}", str(uuid4()), path)
