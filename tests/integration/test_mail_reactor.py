"""The mail reactor on real PostgreSQL, the real broker and a real SMTP server: commands
go through the command API, the relay carries their events, the reactor's intake records
the mail they owe, and the sender hands it to the development mailbox (docs/operations.md,
"Mail")."""

from __future__ import annotations

import email
import email.policy
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient

import eventshop.operations.status as operations
from eventshop import wiring
from reactors import outbox
from reactors.mailbox import Stored, stored
from reactors.mailer import SmtpMailer
from reactors.sender import MailSender
from tests.integration.test_mail import Refusing
from tests.support.mailboxes import intake_stack, running_mailbox
from tests.support.served import free_port
from tests.support.stack import PASSWORD, Servers, Stack, eventually, login


@pytest.fixture(scope="module")
def stack(servers: Servers) -> Iterator[Stack]:
    with intake_stack(servers) as stack:
        yield stack


@pytest.fixture
def mailbox(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    with running_mailbox(tmp_path / "mail") as found:
        yield found


def sender(stack: Stack, url: str, **options: Any) -> MailSender:
    return MailSender(
        database_url=stack.settings.database_url or "",
        schema=stack.settings.read_schema,
        mailer=SmtpMailer(url, timeout=2),
        **options,
    )


def send_due(stack: Stack, mail_sender: MailSender) -> int:
    with psycopg.connect(stack.settings.database_url or "") as conn:
        return mail_sender.send_all_due(conn)


def owed(stack: Stack, key_part: str) -> list[tuple[str, str, int]]:
    """(kind, state, attempts) of the outbox rows whose key contains ``key_part``."""
    rows = stack.sql(
        "SELECT kind, state, attempts FROM {rm}.mail_outbox WHERE key LIKE %s"
        " ORDER BY aggregate_version",
        f"%{key_part}%",
    )
    return [(str(k), str(s), int(a)) for k, s, a in rows]


def register(stack: Stack, name: str) -> tuple[str, str]:
    address = f"{name.lower()}-{uuid4().hex[:8]}@example.com"
    created = stack.commands.post(
        "/customers", json={"email": address, "name": name, "password": PASSWORD}
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"]), address


def body(kept: Stored) -> str:
    message = email.message_from_bytes(kept.path.read_bytes(), policy=email.policy.default)
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def mails_to(directory: Path, address: str) -> list[Stored]:
    return [m for m in stored(directory) if address in m.to]


def test_registering_sends_one_welcome_mail_naming_the_customer(
    stack: Stack, mailbox: tuple[str, Path]
) -> None:
    url, directory = mailbox
    customer_id, address = register(stack, "Wanda")
    eventually(lambda: owed(stack, customer_id))
    mail_sender = sender(stack, url)
    send_due(stack, mail_sender)
    send_due(stack, mail_sender)  # nothing is owed twice
    [welcome] = mails_to(directory, address)
    assert welcome.to == f"Wanda <{address}>"
    assert welcome.subject == "Welcome to eventshop, Wanda"
    assert welcome.message_id == f"<welcome.{customer_id}.1@eventshop.local>"
    assert "Hello Wanda" in body(welcome)
    assert owed(stack, customer_id) == [("welcome", "sent", 1)]


def an_order(stack: Stack, *, quantity: int = 2, price: int = 1999) -> tuple[TestClient, str, str]:
    """A customer's client, their address and a placed order of ``quantity`` lamps."""
    _, address = register(stack, "Olga")
    client = TestClient(stack.commands.app)
    client.headers["Authorization"] = f"Bearer {login(stack.commands, address)}"
    sku = f"LAMP-{uuid4().hex[:6]}"
    product = stack.admin.post("/products", json={"sku": sku, "title": "Lamp", "price": price})
    product_id = product.json()["id"]
    stack.admin.post(f"/products/{product_id}/stock", json={"delta": 10})
    assert stack.admin.post(f"/products/{product_id}/publish").status_code == 200
    placed = client.post(
        "/orders", json={"lines": [{"product_id": product_id, "quantity": quantity}]}
    )
    assert placed.status_code == 201, placed.text
    return client, address, str(placed.json()["id"])


def a_shipped_order(stack: Stack) -> tuple[str, str]:
    """The address of a customer, and their order of two lamps, paid and shipped."""
    client, address, order_id = an_order(stack)
    paid = client.post(f"/orders/{order_id}/pay", json={"payment_token": "tok_ok"})
    assert paid.status_code == 200, paid.text
    assert stack.admin.post(f"/orders/{order_id}/ship").status_code == 200
    return address, order_id


def test_paid_shipped_and_cancelled_mails_list_the_order_lines_and_totals(
    stack: Stack, mailbox: tuple[str, Path]
) -> None:
    url, directory = mailbox
    address, order_id = a_shipped_order(stack)
    other_client, other_address, other_order = an_order(stack, quantity=1, price=500)
    assert other_client.post(f"/orders/{other_order}/cancel").status_code == 200
    eventually(lambda: len(owed(stack, order_id)) == 2 and len(owed(stack, other_order)) == 1)
    send_due(stack, sender(stack, url))

    paid, shipped = [m for m in mails_to(directory, address) if "Order" in m.subject]
    short = order_id[:8]
    assert (paid.subject, shipped.subject) == (
        f"Order {short} is paid",
        f"Order {short} is on its way",
    )
    text = body(paid)
    assert "payment of 39.98" in text
    assert "2 x Lamp" in text and "at 19.99 = 39.98" in text and "Total: 39.98" in text
    [cancelled] = [m for m in mails_to(directory, other_address) if "Order" in m.subject]
    assert cancelled.subject == f"Order {other_order[:8]} is cancelled"
    assert "1 x Lamp" in body(cancelled)


def test_a_server_that_is_down_is_retried_with_backoff_then_the_mail_is_dead_and_holds_its_order(
    stack: Stack, mailbox: tuple[str, Path]
) -> None:
    url, directory = mailbox
    address, order_id = a_shipped_order(stack)
    eventually(lambda: len(owed(stack, order_id)) == 2)

    down = sender(stack, f"smtp://127.0.0.1:{free_port()}", max_attempts=3, base_delay_seconds=0.01)

    def paid_mail_is_dead() -> bool:
        send_due(stack, down)  # other mails of this test (the welcome) are tried too
        return owed(stack, order_id)[0][1] == "dead"

    eventually(paid_mail_is_dead, timeout=20)
    # Three attempts at the paid mail, then it is dead; the shipped mail waits behind it.
    assert owed(stack, order_id) == [("paid", "dead", 3), ("shipped", "pending", 0)]
    assert send_due(stack, down) == 0  # nothing of that order is due while its letter is dead

    up = sender(stack, url)
    [dead_key] = [m["key"] for m in _failed(stack) if order_id in m["key"]]
    with psycopg.connect(stack.settings.database_url or "") as conn:
        assert outbox.decide(conn, stack.settings.read_schema, dead_key, "retry")
        conn.commit()
    send_due(stack, up)
    subjects = [m.subject for m in mails_to(directory, address) if "Order" in m.subject]
    assert subjects == [f"Order {order_id[:8]} is paid", f"Order {order_id[:8]} is on its way"]


def _failed(stack: Stack) -> list[dict[str, Any]]:
    with psycopg.connect(stack.settings.database_url or "") as conn:
        return outbox.mails(conn, stack.settings.read_schema, ("dead", "rejected"))


def test_the_backoff_grows_exponentially_with_jitter_up_to_its_cap(stack: Stack) -> None:
    mail_sender = sender(stack, "smtp://127.0.0.1:1", base_delay_seconds=1, max_delay_seconds=60)
    for attempt, ceiling in ((1, 1), (2, 2), (3, 4), (6, 32), (7, 60), (20, 60)):
        delays = {mail_sender.backoff(attempt) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays), (attempt, sorted(delays))
        assert len(delays) > 1  # jittered: failures do not retry in step


def test_a_refused_recipient_is_rejected_at_once_and_holds_nothing(stack: Stack) -> None:
    refusing = Controller(Refusing(), hostname="127.0.0.1", port=free_port())
    refusing.start()
    try:
        customer_id, _ = register(stack, "Gone")
        stack.sql(
            "UPDATE {rm}.mail_recipients SET email = 'gone@example.com' WHERE customer_id = %s",
            customer_id,
        )  # an address the server refuses for good (550)
        eventually(lambda: owed(stack, customer_id))
        send_due(stack, sender(stack, f"smtp://127.0.0.1:{refusing.port}"))
    finally:
        refusing.stop()
    assert owed(stack, customer_id) == [("welcome", "rejected", 1)]
    [failed] = [m for m in _failed(stack) if customer_id in m["key"]]
    assert "550" in failed["last_error"]


def test_two_senders_send_every_mail_exactly_once(stack: Stack, mailbox: tuple[str, Path]) -> None:
    url, directory = mailbox
    ids = [register(stack, f"Twin{n}")[0] for n in range(12)]
    eventually(lambda: all(owed(stack, i) for i in ids))
    senders = [sender(stack, url), sender(stack, url)]
    threads = [threading.Thread(target=send_due, args=(stack, s)) for s in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent = Counter(m.message_id for m in stored(directory))
    assert all(sent[f"<welcome.{i}.1@eventshop.local>"] == 1 for i in ids), sent
    assert sum(s.stats.sent for s in senders) == len(sent)


def test_the_query_role_reads_no_mail(stack: Stack) -> None:
    url = wiring.read_database_url(stack.settings)
    with psycopg.connect(url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(f'SELECT * FROM "{stack.settings.read_schema}".mail_outbox')


def test_the_reactor_shows_beside_the_projections_with_its_lag(stack: Stack) -> None:
    register(stack, "Lag")
    topics = {f"{stack.settings.topic_prefix}shop.{c}" for c in ("customers", "orders")}

    def mail_rows() -> list[dict[str, Any]]:
        rows = stack.admin_queries.get("/projections").json()
        return [r for r in rows if r["projection"] == "mail"]

    assert {r["topic"] for r in eventually(mail_rows)} <= topics
    eventually(
        lambda: all(
            r["lag_events"] == 0 and r["state"] == "live"
            for r in stack.admin_queries.get("/projections").json()
            if r["projection"] == "mail"
        )
    )


def test_verify_mail_compares_the_effect_records_with_what_the_event_store_owes(
    stack: Stack,
) -> None:
    customer, _ = register(stack, "Vera")
    eventually(lambda: owed(stack, customer) == [("welcome", "pending", 0)])
    eventually(lambda: operations.verify(stack.settings, "mail").lag_events == 0)
    report = operations.verify(stack.settings, "mail")
    assert report.equal, report
    assert report.tables[0].table == "mail_outbox" and report.tables[0].rebuilt_rows >= 1

    # An owed mail whose record vanished is a difference, named by its key.
    stack.sql("DELETE FROM {rm}.mail_outbox WHERE key LIKE %s", f"%{customer}%")
    broken = operations.verify(stack.settings, "mail")
    assert not broken.equal
    assert broken.tables[0].differing == [f"owed, missing: welcome.{customer}.1"]

    # A record no event owes is a difference too.
    stack.sql(
        "INSERT INTO {rm}.mail_outbox (key, kind, aggregate_id, aggregate_version,"
        " notification_id, customer_id) VALUES (%s, 'welcome', %s, 9, 1, %s)",
        f"welcome.{customer}.9",
        customer,
        customer,
    )
    worse = operations.verify(stack.settings, "mail")
    assert worse.tables[0].differing == [
        f"owed, missing: welcome.{customer}.1",
        f"owed by no event: welcome.{customer}.9",
    ]
