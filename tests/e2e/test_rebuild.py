"""Blue/green rebuilds from the event store, while the system keeps running (docs/operations.md)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from uuid import uuid4

import psycopg
import pytest
from typer.testing import CliRunner

import eventshop.operations.status as operations
from contracts.faults import CRASH_EXIT_CODE
from eventshop import wiring
from eventshop.cli.main import app
from projections.rebuild.rebuilder import RebuildRunningError
from projections.rebuild.verify import verify
from projections.records import UnreadableStoreError
from tests.support.histories import history_from_store, oracle
from tests.support.stack import Servers, Stack, running_stack, settings_env

TOKEN = "X-Consistency-Token"


@pytest.fixture
def stack(servers: Servers) -> Iterator[Stack]:
    with running_stack(servers) as stack:
        stack.start_relay()
        stack.start_projectors()
        yield stack


def stocked_products(stack: Stack, count: int, moves: int) -> tuple[list[str], str]:
    ids, token = [], ""
    for n in range(count):
        product_id = stack.admin.post(
            "/products", json={"sku": f"R-{uuid4().hex[:8]}-{n}", "title": "R", "price": 10}
        ).json()["id"]
        for _ in range(moves):
            token = stack.admin.post(f"/products/{product_id}/stock", json={"delta": 1}).headers[
                TOKEN
            ]
        ids.append(product_id)
    return ids, token


def on_hand(stack: Stack, product_id: str, token: str = "") -> int:
    headers = {TOKEN: token} if token else {}
    value: int = stack.admin_queries.get(f"/products/{product_id}", headers=headers).json()[
        "on_hand"
    ]
    return value


def test_a_rebuild_repairs_a_damaged_model_while_the_shop_keeps_running(stack: Stack) -> None:
    ids, token = stocked_products(stack, 3, 4)
    assert on_hand(stack, ids[-1], token) == 4
    stack.sql("UPDATE {rm}.products SET on_hand = 999")  # the damage a bug might do

    failures: list[str] = []
    moves: list[str] = []
    stop = threading.Event()

    def keep_querying() -> None:
        while not stop.is_set():
            response = stack.admin_queries.get("/products", params={"limit": 100})
            if response.status_code != 200 or not response.json()["items"]:
                failures.append(response.text)

    def keep_commanding() -> None:
        while not stop.is_set():
            response = stack.admin.post(f"/products/{ids[1]}/stock", json={"delta": 1})
            if response.status_code == 200:
                moves.append(response.headers[TOKEN])

    clients = [threading.Thread(target=f, daemon=True) for f in (keep_querying, keep_commanding)]
    for client in clients:
        client.start()
    try:
        result = wiring.rebuilder(stack.settings, "products", batch_size=3).run()
    finally:
        stop.set()
        for client in clients:
            client.join(timeout=10)
    assert failures == []
    assert result.events >= 3 * 5
    assert moves, "commands kept flowing during the rebuild"
    # Every stock move made during the rebuild is there exactly once, whichever copy took it.
    assert on_hand(stack, ids[1], moves[-1]) == 4 + len(moves)
    assert [on_hand(stack, ids[0]), on_hand(stack, ids[2])] == [4, 4]
    moved = stack.admin.post(f"/products/{ids[0]}/stock", json={"delta": 2})
    assert on_hand(stack, ids[0], moved.headers[TOKEN]) == 6  # the live projector carries on
    assert stack.sql("SELECT count(*) FROM {rm}.products")[0][0] == 3

    # Quiescent now: the rebuilt model is what a pure replay of the event store gives.
    history = history_from_store(
        stack.sql(
            "SELECT originator_id, topic, state FROM {es}.shop_events ORDER BY notification_id"
        )
    )
    _, expected, _ = oracle(history)
    fields = ["title", "price", "status", "on_hand", "reserved", "units_sold"]
    rows = stack.sql(f"SELECT id, {', '.join(fields)} FROM {{rm}}.products")
    assert {row[0]: dict(zip(fields, row[1:], strict=True)) for row in rows} == expected


def test_a_killed_rebuild_resumes_where_it_stopped(stack: Stack) -> None:
    ids, token = stocked_products(stack, 2, 5)
    on_hand(stack, ids[-1], token)
    crashed = stack.child(
        "projections",
        "rebuild",
        "products",
        "--batch-size",
        "4",
        EVENTSHOP_CRASH_AT="rebuild.after_batch",
    )
    assert crashed.wait(timeout=60) == CRASH_EXIT_CODE
    status = {p["projection"]: p for p in operations.projections(stack.settings, partitions=False)}
    assert status["products"]["state"] == "rebuilding (interrupted: rerun the rebuild to resume)"
    result = wiring.rebuilder(stack.settings, "products", batch_size=4).run()
    assert result.resumed_from > 0
    assert result.events == 2 * 6 - 4  # the first batch was not applied again
    assert [on_hand(stack, i) for i in ids] == [5, 5]
    assert verify(wiring.rebuilder(stack.settings, "products")).equal  # = an unbroken build
    status = {p["projection"]: p for p in operations.projections(stack.settings, partitions=False)}
    assert status["products"]["state"] == "live"


def test_a_rebuilt_model_has_every_index_the_live_one_had(stack: Stack) -> None:
    """The shadow builds its secondary indexes once, after the folding: they must all be
    there when it is swapped in (the query-plan guard relies on them)."""
    stocked_products(stack, 2, 1)
    indexes = (
        "SELECT tablename, indexname, indexdef LIKE '%%gin%%' FROM pg_indexes"
        " WHERE schemaname = %s ORDER BY 1, 2"
    )
    before = stack.sql(indexes, stack.settings.read_schema)
    for name in ("products", "orders"):
        wiring.rebuilder(stack.settings, name).run()
    assert stack.sql(indexes, stack.settings.read_schema) == before
    assert ("products", "products_search", True) in before


def test_two_rebuilds_of_one_projection_cannot_run_at_once(stack: Stack) -> None:
    key = f"eventshop-rebuild:{stack.settings.read_schema}:products"
    with psycopg.connect(stack.settings.database_url or "", autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(hashtext(%s))", (key,))
        with pytest.raises(RebuildRunningError):
            wiring.rebuilder(stack.settings, "products").run()


def test_verify_finds_a_damaged_model_and_passes_after_a_rebuild(stack: Stack) -> None:
    ids, token = stocked_products(stack, 2, 3)
    on_hand(stack, ids[-1], token)
    env = settings_env(stack.settings) | {"COLUMNS": "300"}
    clean = CliRunner().invoke(app, ["projections", "verify", "products"], env=env)
    assert clean.exit_code == 0, clean.output

    stack.sql("UPDATE {rm}.products SET on_hand = on_hand + 1 WHERE id = %s", ids[0])
    damaged = CliRunner().invoke(app, ["projections", "verify", "products", "--json"], env=env)
    assert damaged.exit_code == 1
    report = json.loads(damaged.stdout.splitlines()[0])
    assert report[0]["equal"] is False
    assert ids[0] in report[0]["differing"]

    wiring.rebuilder(stack.settings, "products").run()
    repaired = CliRunner().invoke(app, ["projections", "verify", "products"], env=env)
    assert repaired.exit_code == 0, repaired.output


def test_a_shadow_that_cannot_be_resumed_is_started_over(stack: Stack) -> None:
    ids, token = stocked_products(stack, 1, 2)
    on_hand(stack, ids[0], token)
    shadow = f"{stack.settings.read_schema}__rb_products"
    # Left by a release before table versions: a checkpoint without a version, past the head.
    stack.sql(f'CREATE SCHEMA "{shadow}"')
    stack.sql(f'CREATE TABLE "{shadow}".rebuild_state (id int, notification_id bigint)')
    stack.sql(f'INSERT INTO "{shadow}".rebuild_state VALUES (1, 10000000)')
    result = wiring.rebuilder(stack.settings, "products").run()
    assert (result.resumed_from, result.events) == (0, 3)
    assert on_hand(stack, ids[0]) == 2
    # A half-made shadow (no checkpoint table at all) is started over too.
    stack.sql(f'CREATE SCHEMA "{shadow}"')
    assert wiring.rebuilder(stack.settings, "products").run().events == 3


def test_verify_during_a_stream_of_commands_reports_lag_not_a_difference(stack: Stack) -> None:
    ids, token = stocked_products(stack, 3, 2)
    on_hand(stack, ids[-1], token)
    env = settings_env(stack.settings) | {"COLUMNS": "300"}
    streaming, sent = threading.Event(), []

    def stream() -> None:
        while not streaming.is_set():
            for product_id in ids:
                moved = stack.admin.post(f"/products/{product_id}/stock", json={"delta": 1})
                sent.append(moved.status_code)

    writer = threading.Thread(target=stream, daemon=True)
    writer.start()
    try:
        during = CliRunner().invoke(app, ["projections", "verify", "products"], env=env)
        assert during.exit_code == 0, during.output
    finally:
        streaming.set()
        writer.join(timeout=30)
    assert len(sent) > 0 and set(sent) == {200}

    # The live projector stopped: every later event is lag, and still no difference.
    stack.stop.set()
    for thread in stack.threads:
        thread.join(timeout=15)
    for product_id in ids:
        stack.admin.post(f"/products/{product_id}/stock", json={"delta": 5})
    behind = verify(wiring.rebuilder(stack.settings, "products"))
    assert behind.equal and behind.lag_events >= 3

    stack.sql("UPDATE {rm}.products SET on_hand = on_hand + 1 WHERE id = %s", ids[0])
    damaged = CliRunner().invoke(app, ["projections", "verify", "products"], env=env)
    assert damaged.exit_code == 1, damaged.output


def test_verify_right_after_a_rebuild_that_no_projector_has_met_finds_no_difference(
    servers: Servers,
) -> None:
    """A rebuild reads the store to its head, so it leaves the live tables ahead of the
    projector's positions (here: no projector ever ran, there are none). Verify compares
    with what the live copy holds, not with the positions alone: no false difference, no
    lag, and a damaged row still shows."""
    with running_stack(servers) as stack:
        stack.start_relay()
        ids, _ = stocked_products(stack, 3, 2)
        for name in ("products", "orders"):
            wiring.rebuilder(stack.settings, name).run()
        assert stack.sql("SELECT count(*) FROM {rm}.projection_positions") == [(0,)]
        for name in ("products", "orders"):
            report = verify(wiring.rebuilder(stack.settings, name))
            assert report.equal, report.tables
            assert report.lag_events == 0
        stack.sql("UPDATE {rm}.products SET on_hand = on_hand + 1 WHERE id = %s", ids[0])
        assert not verify(wiring.rebuilder(stack.settings, "products")).equal


def test_a_store_with_events_this_release_cannot_read_is_never_rebuilt_without_them(
    stack: Stack,
) -> None:
    """A newer release stored a type this one does not know: a rebuild that passed over it
    would swap in a model missing its effects. Rebuild and verify refuse, in one line, and
    the live tables stay as they are."""
    ids, token = stocked_products(stack, 2, 1)
    stack.admin_queries.get(f"/products/{ids[-1]}", headers={TOKEN: token})
    before = stack.sql("SELECT id, on_hand FROM {rm}.products ORDER BY id")
    newer = stack.sql(
        "SELECT originator_id, max(originator_version) + 1 FROM {es}.shop_events"
        " WHERE originator_id = %s GROUP BY originator_id",
        ids[0],
    )[0]
    stack.sql(
        "INSERT INTO {es}.shop_events (originator_id, originator_version, topic, state)"
        " VALUES (%s, %s, 'StockCounted.v1', '{{}}'), (%s, %s, 'StockAdjusted.v7', '{{}}')",
        newer[0],
        newer[1],
        newer[0],
        newer[1] + 1,
    )
    with pytest.raises(UnreadableStoreError, match=r"StockAdjusted\.v7, StockCounted\.v1"):
        wiring.rebuilder(stack.settings, "products").run()
    with pytest.raises(UnreadableStoreError):
        verify(wiring.rebuilder(stack.settings, "orders"))
    assert stack.sql("SELECT id, on_hand FROM {rm}.products ORDER BY id") == before
    result = subprocess.run(
        [sys.executable, "-m", "eventshop.cli", "projections", "rebuild", "products"],
        env=settings_env(stack.settings),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "cannot read (StockAdjusted.v7, StockCounted.v1)" in result.stderr
    assert "Traceback" not in result.stderr
