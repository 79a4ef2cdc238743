"""Read-your-writes never answers a stale 200: past the bounded wait it is 503 (guarantee 7,
docs/architecture.md)."""

from __future__ import annotations

import time
from uuid import uuid4

from tests.support.stack import PASSWORD, Servers, running_stack


def test_a_query_the_read_model_cannot_answer_yet_is_503_with_retry_after(
    servers: Servers,
) -> None:
    # No relay and no projector run: the write can never reach the read model.
    with running_stack(servers, consistency_wait_seconds=0.3) as stack:
        created = stack.commands.post(
            "/customers",
            json={
                "email": f"w-{uuid4().hex[:8]}@example.com",
                "name": "Wait",
                "password": PASSWORD,
            },
        )
        token = created.headers["X-Consistency-Token"]
        started = time.monotonic()
        response = stack.admin_queries.get(
            f"/customers/{created.json()['id']}", headers={"X-Consistency-Token": token}
        )
        assert time.monotonic() - started >= 0.3
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "1"
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "CONSISTENCY_TIMEOUT"
        # Without a token the same query answers at once, from what the model holds.
        assert stack.admin_queries.get(f"/customers/{created.json()['id']}").status_code == 404
