"""A command API started before `eventshop migrate` (an API replica started beside compose's
migrate job, or restarted before it ran): 503 with Retry-After until the migration, then
it serves, without a restart (docs/operations.md, "Rolling deploys")."""

from __future__ import annotations

from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from eventshop import wiring
from tests.integration.test_append_events import an_event
from tests.support.credentials import PASSWORD
from tests.support.stack import Servers, isolated_settings
from write_side.persistence.recorder import IdempotentPostgresRecorder


def test_a_store_opened_before_its_migration_takes_saves_after_it(servers: Servers) -> None:
    # The library looks the stored-event type up once, at start: it failed every save after.
    settings = isolated_settings(servers)
    shop = wiring.shop(settings, pool_size=2)
    try:
        recorder = shop.recorder
        assert isinstance(recorder, IdempotentPostgresRecorder)
        recorder.APPEND_RECHECK_SECONDS = 0.0  # looks for append_events again at each save
        with pytest.raises(Exception):  # noqa: B017 - no schema yet: any error
            recorder.insert_events([an_event()])
        wiring.migrate(settings)
        assert recorder.insert_events([an_event()])
        assert recorder.insert_events([an_event(), an_event()])
        assert recorder._has_append()  # and the one-call append is found, without a restart
    finally:
        shop.close()


def test_the_command_api_answers_503_until_the_migration_then_serves(servers: Servers) -> None:
    settings = isolated_settings(servers)
    app = wiring.command_app(settings)
    try:
        with TestClient(app) as client:
            early = client.post("/customers", json=_customer())
            assert early.status_code == 503, early.text
            assert early.headers["Retry-After"]
            assert early.headers["content-type"] == "application/problem+json"
            wiring.migrate(settings)
            registered = client.post("/customers", json=_customer())
            assert registered.status_code == 201, registered.text
    finally:
        app.state.shop.close()


def _customer() -> dict[str, str]:
    email = f"early-{uuid4().hex[:8]}@example.com"
    return {"email": email, "name": "Early", "password": PASSWORD}
