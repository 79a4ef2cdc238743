"""``eventshop dlq replay|discard``: a dead-lettered event reaches the read model once the
bug is fixed, in its place in history; junk can only be discarded (docs/operations.md, "Dead
letters")."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from kafka import KafkaProducer
from psycopg import Cursor
from typer.testing import CliRunner

from contracts.envelope import Envelope
from contracts.events import ProductCreated
from contracts.topics import topic_name
from eventshop import wiring
from eventshop.cli.main import app
from eventshop.operations import dead_letters
from projections.memory_rows import Rows
from projections.models.products import PRODUCTS
from projections.models.products.folds import fold_created
from projections.models.products.handlers import on_created
from tests.support.stack import Servers, eventually, running_stack, settings_env

TOKEN = "X-Consistency-Token"


def buggy_on_created(cur: Cursor[Any], schema: str, env: Envelope, e: ProductCreated) -> None:
    if e.title == "Boom":
        raise RuntimeError("the handler has a bug")
    on_created(cur, schema, env, e)


def buggy_fold_created(rows: Rows, env: Envelope, e: ProductCreated) -> None:
    if e.title == "Boom":
        raise ValueError("the fold has the same bug")
    fold_created(rows, env, e)


BUGGY = replace(
    PRODUCTS,
    handlers={**PRODUCTS.handlers, ProductCreated: buggy_on_created},
    folds={**PRODUCTS.folds, ProductCreated: buggy_fold_created},
)


def cli(env: dict[str, str], *args: str) -> tuple[int, Any]:
    result = CliRunner().invoke(app, ["dlq", *args, "--json"], env=env)
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else result.output


def test_dead_letters_are_replayed_after_the_fix_and_junk_is_discarded(servers: Servers) -> None:
    with running_stack(servers, consistency_wait_seconds=0.5) as stack:
        stack.start_relay()
        stack.start_projectors(custom=BUGGY)  # the deployed code has a bug
        env = settings_env(stack.settings) | {"COLUMNS": "300"}
        boom = stack.admin.post("/products", json={"sku": "BOOM-1", "title": "Boom", "price": 7})
        boom_id = boom.json()["id"]
        stocked = stack.admin.post(f"/products/{boom_id}/stock", json={"delta": 5})
        fine = stack.admin.post("/products", json={"sku": "FINE-1", "title": "Fine", "price": 3})
        producer = KafkaProducer(bootstrap_servers=servers.kafka_bootstrap_servers)
        producer.send(topic_name("catalog", stack.settings.topic_prefix), value=b"junk")
        producer.flush()
        producer.close()
        # Other aggregates go on.
        read = stack.admin_queries.get(
            f"/products/{fine.json()['id']}", headers={TOKEN: fine.headers[TOKEN]}
        )
        assert read.status_code == 200
        eventually(lambda: stack.positions("products")["dead_lettered"] >= 2)
        # The stock change waits behind the dead creation: its token is never a stale 200.
        waiting = stack.admin_queries.get(
            f"/products/{boom_id}", headers={TOKEN: stocked.headers[TOKEN]}
        )
        assert waiting.status_code == 503, waiting.text

        code, pending = cli(env, "list")
        assert code == 0
        event_letter = next(x for x in pending if x["notification_id"] is not None)
        junk_letter = next(x for x in pending if x["notification_id"] is None)
        assert len(pending) == 2
        assert (event_letter["id"], event_letter["kept"], event_letter["waiting"]) == (
            f"products:{event_letter['notification_id']}",
            "parked",
            1,
        )
        assert (event_letter["error_class"], junk_letter["error_class"]) == (
            "RuntimeError",
            "UndecodableEventError",
        )

        # Replaying before the fix is deployed: it fails again and keeps its place.
        outcomes = dead_letters.replay(
            stack.settings, [event_letter["id"]], code={"products": BUGGY}
        )
        assert [(x.outcome, "has a bug" in x.detail) for x in outcomes] == [("still failing", True)]
        assert {x.id for x in dead_letters.letters(stack.settings)} == {
            event_letter["id"],
            junk_letter["id"],
        }

        # With the fix (the CLI runs the registry's code): the letter, then what waited.
        code, outcomes = cli(env, "replay", "--all")
        assert code == 1  # the junk cannot be replayed: it never was an event
        by_id = {x["id"]: x for x in outcomes}
        assert by_id[event_letter["id"]]["outcome"] == "replayed"
        assert by_id[event_letter["id"]]["detail"].startswith("1 waiting event")
        assert by_id[junk_letter["id"]]["outcome"] == "refused"
        product = stack.admin_queries.get(
            f"/products/{boom_id}", headers={TOKEN: stocked.headers[TOKEN]}
        ).json()
        assert (product["title"], product["on_hand"]) == ("Boom", 5)  # creation, then the stock

        # The live projector carries on from the released version.
        moved = stack.admin.post(f"/products/{boom_id}/stock", json={"delta": 1})
        read = stack.admin_queries.get(
            f"/products/{boom_id}", headers={TOKEN: moved.headers[TOKEN]}
        )
        assert read.json()["on_hand"] == 6

        code, pending = cli(env, "list")
        assert [x["id"] for x in pending] == [junk_letter["id"]]
        assert cli(env, "discard", "no-such:0:1")[0] == 2
        code, discarded = cli(env, "discard", junk_letter["id"], "--note", "junk from a test")
        assert code == 0 and [x["outcome"] for x in discarded] == ["discarded"]
        assert cli(env, "list") == (0, [])
        code, everything = cli(env, "list", "--all")
        assert {(x["id"], x["status"]) for x in everything} == {
            (event_letter["id"], "replayed"),
            (junk_letter["id"], "discarded"),
        }


def test_a_rebuild_is_the_heavy_path_and_records_what_it_applied(servers: Servers) -> None:
    with running_stack(servers) as stack:
        stack.start_relay()
        stack.start_projectors(custom=BUGGY)
        boom = stack.admin.post("/products", json={"sku": "BOOM-2", "title": "Boom", "price": 7})
        eventually(lambda: stack.positions("products")["dead_lettered"] >= 1)
        result = wiring.rebuilder(stack.settings, "products").run(grace_seconds=0)
        assert result.failed == ()
        found = stack.admin_queries.get(f"/products/{boom.json()['id']}")
        assert found.status_code == 200
        assert dead_letters.letters(stack.settings) == []
        statuses = {x.status for x in dead_letters.letters(stack.settings, include_resolved=True)}
        assert statuses == {"replayed"}
