"""The operator's read-only commands: projections list/status, relay status, dlq list."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from uuid import uuid4

from kafka import KafkaProducer
from typer.testing import CliRunner

from contracts.topics import topic_name
from eventshop.cli.main import app
from eventshop.embedded import free_port
from tests.e2e.test_eventshop_run import clean_env
from tests.support.stack import PASSWORD, Servers, eventually, running_stack, settings_env

TOKEN = "X-Consistency-Token"


def run_cli(env: dict[str, str], *args: str) -> Any:
    """stdout only: log lines (a kafka-python warning on a busy machine, say) go to stderr."""
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_operators_see_projections_the_relay_and_dead_letters(servers: Servers) -> None:
    with running_stack(servers) as stack:
        env = settings_env(stack.settings) | {"COLUMNS": "80"}  # a plain terminal
        before = json.loads(run_cli(env, "relay", "status", "--json"))
        assert before["active_relay"] is False
        assert before["unpublished_notifications"] >= 1  # the stack's admin

        stack.start_relay()
        stack.start_projectors()
        created = stack.commands.post(
            "/customers",
            json={"email": f"op-{uuid4().hex[:6]}@x.io", "name": "O", "password": PASSWORD},
        )
        stack.admin_queries.get(
            f"/customers/{created.json()['id']}", headers={TOKEN: created.headers[TOKEN]}
        )
        producer = KafkaProducer(bootstrap_servers=servers.kafka_bootstrap_servers)
        producer.send(
            topic_name("customers", stack.settings.topic_prefix),
            value=b"junk",
            headers=[("notification_id", b"?")],
            partition=0,
        )
        producer.flush()
        producer.close()
        eventually(lambda: stack.positions("customers")["dead_lettered"] >= 1)

        after = json.loads(run_cli(env, "relay", "status", "--json"))
        assert after["active_relay"] is True
        assert after["unpublished_notifications"] == 0

        summary = json.loads(run_cli(env, "projections", "list", "--json"))
        assert {row["projection"] for row in summary} == {
            "customers",
            "products",
            "orders",
            "sales",
            "mail",  # the mail reactor's intake is listed beside the read models
        }
        customers = next(row for row in summary if row["projection"] == "customers")
        assert customers["applied"] >= 2 and customers["dead_lettered"] == 1
        per_partition = json.loads(run_cli(env, "projections", "status", "--partitions", "--json"))
        assert all(
            {"topic", "partition", "position", "lag_events"} <= set(r) for r in per_partition
        )
        assert "customers" in run_cli(env, "projections", "status")  # the table, for people
        for args, headers in (
            (("projections", "list"), ("projection", "state", "lag", "backlog", "owners")),
            (("projections", "status", "--partitions"), ("topic", "position", "owner")),
            (("relay", "status"), ("checkpoint_notification_id", "active_relay")),
        ):
            table = run_cli(env, *args)
            assert max(len(line) for line in table.splitlines()) <= 80, table
            assert all(header in table for header in headers), table  # whole, not cut

        # Every member that reads shop.customers dead-lettered the junk, each once: both
        # read models and the mail intake (a member of the projectors' group).
        eventually(lambda: len(json.loads(run_cli(env, "dlq", "list", "--json"))) >= 3)
        letters = json.loads(run_cli(env, "dlq", "list", "--json"))
        assert sorted((x["projection"], x["error_class"]) for x in letters) == [
            ("customers", "UndecodableEventError"),
            ("mail", "UndecodableEventError"),
            ("orders", "UndecodableEventError"),
        ]
        assert letters[0]["original"].startswith(
            topic_name("customers", stack.settings.topic_prefix) + ":0:"
        )


def one_line_failure(env: dict[str, str], *args: str) -> str:
    """``eventshop <args>`` as a user runs it: exit non-zero, one line, no traceback."""
    done = subprocess.run(
        [sys.executable, "-m", "eventshop.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done
    return done.stderr


def test_cli_failures_are_one_line_with_a_hint(servers: Servers, tmp_path: Path) -> None:
    env = clean_env(
        EVENTSHOP_DATA_DIR=str(tmp_path),
        EVENTSHOP_DATABASE_URL=servers.database_url,
        EVENTSHOP_READ_SCHEMA=f"never_migrated_{uuid4().hex[:8]}",
    )
    assert "run `eventshop migrate`" in one_line_failure(env, "projections", "list")
    env["EVENTSHOP_DATABASE_URL"] = f"postgresql://postgres@127.0.0.1:{free_port()}/x"
    assert "cannot reach PostgreSQL" in one_line_failure(env, "relay", "status")
    del env["EVENTSHOP_DATABASE_URL"]
    assert "no `eventshop run` is running" in one_line_failure(env, "dlq", "list")
    debug = subprocess.run(
        [sys.executable, "-m", "eventshop.cli", "--debug", "dlq", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Traceback" in debug.stderr  # --debug: the whole story
