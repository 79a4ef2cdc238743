"""Catch-up on a lived-in store: the relay and the projectors over the same new trade, on a
store of millions of events and on a young one (bench/history.py).

The store's read models are built (by the rebuild before this), so what is measured is the
cost of one more event on big tables and a long event store, not of history itself: the
relay's checkpoint is set at the store's head, ``tail`` more trade is seeded, then the relay
publishes it (events/s until its checkpoint reaches the new head) and the four projectors
apply it onto the built tables (events/s until every projection has counted each of its
records). Relay and projectors run as threads of this process, on both stores alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from bench.history_seed import Seeded, Shape
from projections.rebuild.store_reader import StoreReader
from projections.registry import PROJECTIONS
from tests.support.stack import Stack, eventually

Seeder = Callable[[Stack, Shape, str, str], Seeded]


def catch_up(stack: Stack, seeder: Seeder, tail: Shape, name: str) -> dict[str, Any]:
    head = stack.sql("SELECT max(notification_id) FROM {es}.shop_events")[0][0]
    stack.sql("UPDATE {es}.relay_checkpoint SET notification_id = %s", head)
    seeder(stack, tail, f"{name} + tail", "-tail")
    new_head, added = stack.sql(
        "SELECT max(notification_id), count(*) FROM {es}.shop_events WHERE notification_id > %s",
        head,
    )[0]
    owed = _records_owed(stack, head)

    started = time.perf_counter()
    stack.start_relay()
    eventually(
        lambda: stack.sql("SELECT notification_id FROM {es}.relay_checkpoint")[0][0] >= new_head,
        timeout=1800,
        interval=0.2,
    )
    relay_seconds = time.perf_counter() - started

    started = time.perf_counter()
    stack.start_projectors()
    eventually(lambda: all(_counted(stack, p) >= n for p, n in owed.items()), 3600, 0.5)
    projector_seconds = time.perf_counter() - started
    return {
        "tail_events": added,
        "relay_events_per_s": round(added / relay_seconds),
        "projectors_records_per_s": round(sum(owed.values()) / projector_seconds),
    }


def _records_owed(stack: Stack, head: int) -> dict[str, int]:
    """Each projection's records after ``head``: what its projector must count."""
    events = sql.Identifier(stack.settings.event_schema, "shop_events")
    with psycopg.connect(stack.settings.database_url or "") as conn:
        return {
            name: StoreReader(p, events, stack.settings.topic_prefix, 10_000).count(conn, head)
            for name, p in PROJECTIONS.items()
        }


def _counted(stack: Stack, projection: str) -> int:
    return sum(stack.positions(projection).values())
