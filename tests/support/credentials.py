"""What tests sign in with: the JWT secret of every test app, a password, a login helper.

No server support here: the unit tier (tests/unit, `make test-fast`) may import it.
"""

from __future__ import annotations

import secrets
from typing import Any

#: Tests do not run on `eventshop run`'s embedded servers, so they need a real secret.
TEST_SECRET = "test-" + secrets.token_urlsafe(40)
PASSWORD = "correct-horse-battery"


def login(commands: Any, email: str, password: str = PASSWORD) -> str:
    """An access token from ``POST /auth/token`` of ``commands`` (a test client)."""
    response = commands.post("/auth/token", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token
