"""Operators' view of the mail outbox, and their two decisions about a dead mail:
send it again (``retry``) or give it up (``discard``), which releases the later mails of
its aggregate either way."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row


def summary(conn: psycopg.Connection[Any], schema: str) -> dict[str, Any]:
    """Mails by state, and how long the oldest owed mail has waited."""
    row = conn.execute(
        sql.SQL(
            "SELECT count(*) FILTER (WHERE state = 'pending'),"
            " count(*) FILTER (WHERE state = 'sent'),"
            " count(*) FILTER (WHERE state = 'rejected'),"
            " count(*) FILTER (WHERE state = 'dead'),"
            " count(*) FILTER (WHERE state = 'discarded'),"
            " coalesce(extract(epoch FROM now() - min(created_at)"
            "   FILTER (WHERE state = 'pending')), 0)"
            " FROM {}.mail_outbox"
        ).format(sql.Identifier(schema))
    ).fetchone()
    assert row is not None
    pending, sent, rejected, dead, discarded, oldest = row
    return {
        "pending": pending,
        "sent": sent,
        "rejected": rejected,
        "dead": dead,
        "discarded": discarded,
        "oldest_pending_seconds": round(float(oldest), 1),
    }


def mails(
    conn: psycopg.Connection[Any], schema: str, states: tuple[str, ...], limit: int = 100
) -> list[dict[str, Any]]:
    """The newest mails in ``states``, with what went wrong."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            sql.SQL(
                "SELECT key, state, attempts, recipient, subject, last_error, created_at, sent_at"
                " FROM {}.mail_outbox WHERE state = ANY(%s)"
                " ORDER BY notification_id DESC LIMIT %s"
            ).format(sql.Identifier(schema)),
            (list(states), limit),
        ).fetchall()


def decide(conn: psycopg.Connection[Any], schema: str, key: str, decision: str) -> bool:
    """``retry`` (owed again, sent at once) or ``discard`` a dead or rejected mail; False
    when ``key`` names no such mail."""
    state = {"retry": "pending", "discard": "discarded"}[decision]
    changed = conn.execute(
        sql.SQL(
            "UPDATE {}.mail_outbox SET state = %s, attempts = 0, next_attempt_at = now()"
            " WHERE key = %s AND state IN ('dead', 'rejected')"
        ).format(sql.Identifier(schema)),
        (state, key),
    )
    return changed.rowcount == 1
