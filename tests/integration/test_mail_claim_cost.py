"""Claiming the next due mail costs the same with a long history and a deep backlog
(reactors/sender.py; docs/operations.md, "Mail"): an index walk that stops at the first
mail it may send, not a scan of every record the outbox holds and a sort of every due one.
Nor does a customer's erasure read the whole outbox to scrub their few mails.

Counted in buffers PostgreSQL touched (EXPLAIN ANALYZE of the sender's own statement), not
in time: a plan that reads the whole outbox touches thousands of pages here, one that
stops at the first sendable mail a dozen. `bench.mail_claim` measures the time at a shop's
size.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from psycopg import sql

from bench.mail_claim import fill
from eventshop import wiring
from reactors.mail_intake import on_erased
from reactors.mail_tables import migrate_mail_tables
from reactors.mailer import SmtpMailer
from reactors.sender import MailSender
from tests.support.stack import Servers, isolated_settings

HISTORY, BACKLOG = 20_000, 10_000
#: Far above a walk that stops at the first sendable mail, far below a scan of the table.
MOST_BUFFERS = 100


@pytest.fixture(scope="module")
def outbox(servers: Servers) -> Iterator[tuple[psycopg.Connection[Any], MailSender, str]]:
    settings = isolated_settings(servers)
    wiring.migrate(settings)
    mail_sender = MailSender(
        database_url=servers.database_url,
        schema=settings.read_schema,
        mailer=SmtpMailer("smtp://127.0.0.1:9", timeout=1),
    )
    with psycopg.connect(servers.database_url, autocommit=True) as conn:
        fill(conn, settings.read_schema, history=HISTORY, backlog=BACKLOG)
        yield conn, mail_sender, settings.query_role


def claim(conn: psycopg.Connection[Any], mail_sender: MailSender) -> tuple[str | None, int]:
    """The key the sender would claim next, and the buffers its statement touched."""
    with conn.transaction(force_rollback=True):
        explained = sql.SQL("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ") + mail_sender.due
        plan = conn.execute(explained).fetchone()[0][0]["Plan"]  # type: ignore[index]
        row = conn.execute(mail_sender.due).fetchone()
    return (row[0] if row else None), plan["Shared Hit Blocks"] + plan["Shared Read Blocks"]


def test_the_oldest_due_mail_is_claimed_without_reading_the_history_or_the_backlog(
    outbox: tuple[psycopg.Connection[Any], MailSender, str],
) -> None:
    conn, mail_sender, _ = outbox
    key, buffers = claim(conn, mail_sender)
    assert key == f"k{HISTORY}"  # the backlog's first mail (its order's version 1)
    assert buffers <= MOST_BUFFERS, f"the claim read {buffers} buffers"


def test_while_every_mail_backs_off_looking_for_a_due_one_is_cheap_too(
    outbox: tuple[psycopg.Connection[Any], MailSender, str],
) -> None:
    conn, mail_sender, _ = outbox
    table = sql.Identifier(mail_sender.schema, "mail_outbox")
    backing_off = sql.SQL(
        "UPDATE {} SET next_attempt_at = now() + %s::interval WHERE state = 'pending'"
    ).format(table)
    try:
        # Committed and vacuumed, as an outage's backoffs are: the walk meets no dead
        # index entries this test itself left.
        conn.execute(backing_off, ("1 hour",))
        conn.execute(sql.SQL("VACUUM ANALYZE {}").format(table))
        key, buffers = claim(conn, mail_sender)
    finally:
        conn.execute(backing_off, ("-1 minute",))
        conn.execute(sql.SQL("VACUUM ANALYZE {}").format(table))
    assert key is None
    assert buffers <= MOST_BUFFERS, f"the claim read {buffers} buffers"


def test_a_later_mail_of_an_order_waits_for_the_earlier_one_however_long_the_backlog(
    outbox: tuple[psycopg.Connection[Any], MailSender, str],
) -> None:
    conn, mail_sender, _ = outbox
    with conn.transaction(force_rollback=True):
        # The backlog's first order's first mail backs off: its second must not go, the
        # next order's first does.
        conn.execute(
            sql.SQL(
                "UPDATE {}.mail_outbox SET next_attempt_at = now() + interval '1 hour'"
                " WHERE key = %s"
            ).format(sql.Identifier(mail_sender.schema)),
            (f"k{HISTORY}",),
        )
        key, buffers = claim(conn, mail_sender)
    assert key == f"k{HISTORY + 2}"
    assert buffers <= MOST_BUFFERS, f"the claim read {buffers} buffers"


def test_an_outbox_an_earlier_release_migrated_gets_the_new_indexes_and_loses_the_old(
    outbox: tuple[psycopg.Connection[Any], MailSender, str],
) -> None:
    conn, mail_sender, query_role = outbox
    schema = mail_sender.schema
    conn.execute(
        sql.SQL(
            "CREATE INDEX mail_outbox_due ON {} (next_attempt_at) WHERE state = 'pending'"
        ).format(sql.Identifier(schema, "mail_outbox"))
    )
    # And a concurrent build an interrupted deploy left invalid: built again.
    holding = sql.Identifier(schema, "mail_outbox_holding").as_string(conn)
    conn.execute(
        "UPDATE pg_index SET indisvalid = false WHERE indexrelid = to_regclass(%s)", (holding,)
    )
    migrate_mail_tables(conn, schema, query_role)
    valid = conn.execute(
        "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)", (holding,)
    ).fetchone()
    assert valid == (True,)
    indexes = {
        name
        for (name,) in conn.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = %s AND tablename = 'mail_outbox'",
            (schema,),
        )
    }
    assert "mail_outbox_due" not in indexes
    assert {"mail_outbox_due_order", "mail_outbox_holding"} <= indexes
    key, buffers = claim(conn, mail_sender)
    assert key == f"k{HISTORY}" and buffers <= MOST_BUFFERS


class Recording:
    """A cursor that keeps the statements it is given instead of running them."""

    def __init__(self) -> None:
        self.statements: list[tuple[Any, Any]] = []

    def execute(self, query: Any, params: Any = None) -> None:
        self.statements.append((query, params))


def test_a_customers_erasure_scrubs_their_mail_without_reading_the_whole_outbox(
    outbox: tuple[psycopg.Connection[Any], MailSender, str],
) -> None:
    conn, mail_sender, _ = outbox
    schema, customer = mail_sender.schema, uuid4()
    conn.execute(
        sql.SQL(
            "INSERT INTO {} (key, kind, aggregate_id, aggregate_version, notification_id,"
            " customer_id, state) VALUES (%s, 'welcome', %s, 1, 0, %s, 'sent')"
        ).format(sql.Identifier(schema, "mail_outbox")),
        (f"erased-{customer}", customer, customer),
    )
    cur = Recording()
    on_erased(cur, schema, SimpleNamespace(aggregate_id=customer), None)  # type: ignore[arg-type]
    [scrub] = [(q, p) for q, p in cur.statements if "mail_outbox" in q.as_string(conn)]
    with conn.transaction(force_rollback=True):
        explained = sql.SQL("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ") + scrub[0]
        plan = conn.execute(explained, scrub[1]).fetchone()[0][0]["Plan"]  # type: ignore[index]
    buffers = plan["Shared Hit Blocks"] + plan["Shared Read Blocks"]
    assert buffers <= MOST_BUFFERS, f"the erasure read {buffers} buffers of the outbox"
