"""Problem bodies (RFC 9457) as the tests expect them, and a valid product body."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from httpx2 import Response


def assert_problem(response: Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["title"]
    return body


def product(**overrides: Any) -> dict[str, Any]:
    return {"sku": f"SKU-{uuid4().hex[:8]}", "title": "Lamp", "price": 4500, **overrides}
