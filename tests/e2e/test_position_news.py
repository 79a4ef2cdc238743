"""A projector says when a batch committed (``POSITIONS_CHANNEL``): the query API's position
watchers read positions then instead of polling every few milliseconds, so news that never
came would leave token reads waiting for the slow safety read."""

from __future__ import annotations

import time

import psycopg

from contracts.bookkeeping import POSITIONS_CHANNEL
from tests.support.stack import Servers, running_stack


def test_a_projector_tells_the_watchers_after_each_batch_it_committed(servers: Servers) -> None:
    with (
        running_stack(servers) as stack,
        psycopg.connect(servers.database_url, autocommit=True) as listener,
    ):
        schema = stack.settings.read_schema
        listener.execute(f"LISTEN {POSITIONS_CHANNEL}")
        stack.start_relay()
        stack.start_projectors("products")
        created = stack.admin.post("/products", json={"sku": "PN-1", "title": "Lamp", "price": 9})
        assert created.status_code == 201

        deadline, told = time.monotonic() + 30, False
        while not told and time.monotonic() < deadline:
            told = any(n.payload == schema for n in listener.notifies(timeout=1))
        assert told
        # Said after the commit: a watcher reading now sees the batch.
        [(position,)] = stack.sql(
            "SELECT max(notification_id) FROM {rm}.projection_positions"
            " WHERE projection = 'products'"
        )
        assert position >= 1
