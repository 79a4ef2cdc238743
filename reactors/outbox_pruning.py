"""Old mail leaves the outbox: a mail's effect record is kept while it is owed and for the
retention after, then deleted below a watermark that `projections verify mail` honours.

The watermark is a notification id W, recorded in ``mail_pruned``, no higher than

- the oldest owed mail (``pending`` or ``dead``) less one, so pruning never drops a mail the
  sender or an operator still has to act on, and the watermark only passes settled mail;
- the newest mail older than the retention.

Rows at or below W in a settled state (``sent``, ``rejected``, ``discarded``) are deleted,
in batches. Verify compares only what is above W. An event at or below W delivered again
is a duplicate by its aggregate's version (the intake's bookkeeping, which is kept), so its
mail is never owed twice; one that arrives for the first time below W (an intake far
behind on one partition) is owed, sent once and pruned at the next pass like the others.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from reactors.mail_tables import PRUNED_TABLE

SETTLED = ("sent", "rejected", "discarded")


def pruned_through(conn: psycopg.Connection[Any], schema: str) -> int:
    """The watermark: mails owed by events at or below it may be gone."""
    row = conn.execute(
        sql.SQL("SELECT through_notification_id FROM {}").format(
            sql.Identifier(schema, PRUNED_TABLE)
        )
    ).fetchone()
    return int(row[0]) if row else 0


def watermark(conn: psycopg.Connection[Any], schema: str, retention_seconds: float) -> int:
    """The highest notification id that may be pruned now (0: none)."""
    outbox = sql.Identifier(schema, "mail_outbox")
    row = conn.execute(
        sql.SQL(
            "SELECT (SELECT min(notification_id) - 1 FROM {o} WHERE state IN ('pending', 'dead')),"
            " (SELECT max(notification_id) FROM {o}"
            "   WHERE created_at < now() - make_interval(secs => %s))"
        ).format(o=outbox),
        (retention_seconds,),
    ).fetchone()
    owed, old = row if row else (None, None)
    if old is None:
        return 0  # nothing old enough
    return max(min(int(old), int(owed) if owed is not None else int(old)), 0)


def prune(
    conn: psycopg.Connection[Any],
    schema: str,
    *,
    retention_seconds: float,
    batch: int = 5000,
) -> int:
    """Delete the settled mails at or below the watermark; how many."""
    through = watermark(conn, schema, retention_seconds)
    conn.commit()
    if through <= pruned_through(conn, schema):
        conn.commit()
        return 0
    outbox = sql.Identifier(schema, "mail_outbox")
    deleted = 0
    while True:
        with conn.transaction():
            gone = conn.execute(
                sql.SQL(
                    "DELETE FROM {o} WHERE key IN (SELECT key FROM {o}"
                    " WHERE notification_id <= %s AND state = ANY(%s) LIMIT %s)"
                ).format(o=outbox),
                (through, list(SETTLED), batch),
            ).rowcount
        deleted += gone
        if gone < batch:
            break
    with conn.transaction():
        conn.execute(
            sql.SQL(
                "UPDATE {} SET through_notification_id = greatest(through_notification_id, %s),"
                " pruned = pruned + %s, updated_at = now()"
            ).format(sql.Identifier(schema, PRUNED_TABLE)),
            (through, deleted),
        )
    return deleted
