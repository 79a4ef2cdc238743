"""The mail reactor's sender: hands each owed mail to SMTP and records that it did.

Exactly once, as far as SMTP allows. The effect record (a ``mail_outbox`` row) is locked
(``FOR UPDATE SKIP LOCKED``, so several senders never send one mail twice) in a
transaction that stays open while the mail is sent and then records ``sent``. SMTP cannot
join that transaction, so one window remains: after the server accepted the mail (its
``250``) and before the record's commit. A crash there sends that one mail again — with
the same ``Message-ID``, since the key names the event. Any crash before the ``250`` leaves
the mail owed and it is sent later; none is lost (docs/operations.md, "Mail").

Failures (:mod:`reactors.mailer`): one that may pass is retried after an exponential
backoff with jitter, up to ``max_attempts``; then the record is ``dead`` (the effect's dead
letter, shown by ``eventshop mail status``, retried or discarded by an operator). A
permanent refusal (5xx) is ``rejected`` at once. Mails of one aggregate go out in event
order: a ``pending`` or ``dead`` mail holds the later ones of its aggregate. The one due
longest goes first, found through two partial indexes as small as the backlog
(:mod:`reactors.mail_tables`), so a claim costs the same at any history and backlog.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from contracts.faults import crash_point
from contracts.redaction import redact
from contracts.signals import Signal, wait_paced
from reactors import mails
from reactors.mailer import (
    Mail,
    Mailer,
    MailRejectedError,
    MailSession,
    MailUnavailableError,
)
from reactors.outbox_pruning import prune

log = logging.getLogger(__name__)

_DUE = """
SELECT o.key, o.kind, o.order_id, o.facts, o.attempts, o.correlation_id, r.email, r.name,
       m.lines, m.total
FROM {s}.mail_outbox o
JOIN {s}.mail_recipients r ON r.customer_id = o.customer_id
LEFT JOIN {s}.mail_orders m ON m.order_id = o.order_id
WHERE o.state = 'pending' AND o.next_attempt_at <= now()
  AND NOT EXISTS (SELECT 1 FROM {s}.mail_outbox e
                  WHERE e.aggregate_id = o.aggregate_id
                    AND e.aggregate_version < o.aggregate_version
                    AND e.state IN ('pending', 'dead'))
ORDER BY o.next_attempt_at, o.notification_id
LIMIT 1
FOR UPDATE OF o SKIP LOCKED
"""

_RECORD = """
UPDATE {s}.mail_outbox SET state = %(state)s, attempts = attempts + 1,
    next_attempt_at = now() + make_interval(secs => %(delay)s), last_error = %(error)s,
    recipient = coalesce(%(recipient)s, recipient), subject = coalesce(%(subject)s, subject),
    sent_at = CASE WHEN %(state)s = 'sent' THEN now() ELSE sent_at END
WHERE key = %(key)s
"""


@dataclass
class SenderStats:
    sent: int = 0
    retried: int = 0
    rejected: int = 0
    dead: int = 0


class MailSender:
    def __init__(
        self,
        *,
        database_url: str,
        schema: str,
        mailer: Mailer,
        max_attempts: int = 8,
        base_delay_seconds: float = 1.0,
        max_delay_seconds: float = 300.0,
        poll_seconds: float = 0.2,
        retention_seconds: float = 30 * 86400.0,
        prune_every_seconds: float = 600.0,
        news: Signal | None = None,
        idle_poll_seconds: float = 5.0,
    ) -> None:
        self.database_url = database_url
        self.mailer = mailer
        self.max_attempts = max_attempts
        self.base_delay = base_delay_seconds
        self.max_delay = max_delay_seconds
        self.poll_seconds = poll_seconds
        self.retention_seconds = retention_seconds
        self.prune_every_seconds = prune_every_seconds
        #: A projector batch that committed wakes it (its NOTIFY on ``POSITIONS_CHANNEL``:
        #: the intake's outbox rows commit with it); otherwise it waits for the next retry,
        #: at least ``poll_seconds`` and at most ``idle_poll_seconds``. Without news it
        #: polls every ``poll_seconds``.
        self.news = news
        self.idle_poll_seconds = idle_poll_seconds
        self.schema = schema
        self._pruned_at = 0.0
        self.stats = SenderStats()
        self.due = sql.SQL(_DUE).format(s=sql.Identifier(schema))
        self._record = sql.SQL(_RECORD).format(s=sql.Identifier(schema))
        self._next_due = sql.SQL(
            "SELECT extract(epoch FROM min(next_attempt_at) - now()) FROM {}.mail_outbox"
            " WHERE state = 'pending'"
        ).format(sql.Identifier(schema))

    def run(self, stop: threading.Event) -> None:
        """Send owed mail until ``stop`` is set; reconnects after database failures. Each
        burst of due mail goes over one SMTP connection, closed when the burst ends."""
        backoff = 0.2
        while not stop.is_set():
            try:
                with psycopg.connect(self.database_url) as conn:
                    while not stop.is_set():
                        # News that comes while it sends is kept in ``seen``'s generation.
                        seen = self.news.generation if self.news else 0
                        self.prune_when_due(conn)
                        tried = self.send_all_due(conn, stop)
                        if self.news is not None:  # a projector batch each: paced
                            pause = self._until_next_retry(conn)
                            wait_paced(self.news, seen, stop, self.poll_seconds, pause)
                        elif not tried:
                            stop.wait(self.poll_seconds)
                backoff = 0.2
            except (psycopg.Error, OSError) as error:
                log.warning(
                    "mail sender: %s: %s; retrying in %.1fs", type(error).__name__, error, backoff
                )
                stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    def _until_next_retry(self, conn: psycopg.Connection[Any]) -> float:
        """Seconds until the next pending mail is due, within [poll, idle poll]."""
        row = conn.execute(self._next_due).fetchone()
        conn.commit()  # no transaction left open while it sleeps
        due_in = self.idle_poll_seconds if row is None or row[0] is None else float(row[0])
        return min(max(due_in, self.poll_seconds), self.idle_poll_seconds)

    def prune_when_due(self, conn: psycopg.Connection[Any]) -> int:
        """Every ``prune_every_seconds``: settled mail older than the retention goes."""
        if time.monotonic() - self._pruned_at < self.prune_every_seconds:
            return 0
        self._pruned_at = time.monotonic()
        pruned = prune(conn, self.schema, retention_seconds=self.retention_seconds)
        if pruned:
            log.info("mail sender: pruned %d settled mail(s) past the retention", pruned)
        return pruned

    def send_all_due(
        self, conn: psycopg.Connection[Any], stop: threading.Event | None = None
    ) -> int:
        """Send (or try) every mail due now, over one SMTP connection; returns how many
        were tried."""
        tried = 0
        with self.mailer.session() as session:
            while not (stop and stop.is_set()) and self.send_next(conn, session):
                tried += 1
        return tried

    def send_next(self, conn: psycopg.Connection[Any], session: MailSession | None = None) -> bool:
        """Try the next due mail; False when none is due."""
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(self.due).fetchone()
            if row is None:
                return False
            cur.execute(self._record, {"key": row["key"], **self._attempt(row, session)})
        return True

    def _attempt(self, row: dict[str, Any], session: MailSession | None) -> dict[str, Any]:
        """Send the mail of ``row``; what to record about it."""
        try:
            mail = render(row)
        except Exception as error:  # a template or data defect: retrying cannot help
            return self._outcome("dead", error)
        try:
            (session or self.mailer).send(mail)
        except MailRejectedError as error:
            self.stats.rejected += 1
            log.warning("mail %s rejected: %s", row["key"], error)
            return self._outcome("rejected", error, mail)
        except MailUnavailableError as error:
            if row["attempts"] + 1 >= self.max_attempts:
                self.stats.dead += 1
                log.warning(
                    "mail %s dead after %d attempts: %s", row["key"], self.max_attempts, error
                )
                return self._outcome("dead", error, mail)
            self.stats.retried += 1
            return self._outcome("pending", error, mail, delay=self.backoff(row["attempts"] + 1))
        crash_point("reactor.after_send")  # the resend window: accepted, not yet recorded
        self.stats.sent += 1
        return self._outcome("sent", None, mail)

    def backoff(self, attempt: int) -> float:
        """Seconds before attempt ``attempt + 1``: exponential, capped, with equal jitter
        (half fixed, half random), so a burst of failures does not retry in step."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    @staticmethod
    def _outcome(
        state: str, error: BaseException | None, mail: Mail | None = None, delay: float = 0.0
    ) -> dict[str, Any]:
        return {
            "state": state,
            "delay": delay,
            "error": redact(f"{type(error).__name__}: {error}")[:2000] if error else None,
            "recipient": mail.to if mail else None,
            "subject": mail.subject if mail else None,
        }


def render(row: dict[str, Any]) -> Mail:
    """The mail an outbox row stands for, from the reactor's own tables; it names the
    request it goes back to in ``X-Correlation-ID``."""
    mail = _render(row)
    if row.get("correlation_id"):
        mail.headers["X-Correlation-ID"] = str(row["correlation_id"])
    return mail


def _render(row: dict[str, Any]) -> Mail:
    kind, key = str(row["kind"]), str(row["key"]).split(".", 1)[1]
    to = mails.Recipient(row["email"], row["name"])
    facts: dict[str, Any] = row["facts"] or {}
    if kind == "welcome":
        return mails.welcome(key, to)
    order = mails.OrderFacts(
        id=row["order_id"],
        lines=tuple(
            mails.Line(
                title=line["title"],
                sku=line["sku"],
                quantity=int(line["quantity"]),
                unit_price=int(line["unit_price"]),
            )
            for line in row["lines"]
        ),
        total=int(row["total"]),
    )
    if kind == "paid":
        return mails.payment_confirmed(key, to, order, int(facts["paid"]))
    if kind == "shipped":
        return mails.shipped(key, to, order)
    if kind == "cancelled":
        return mails.cancelled(key, to, order, str(facts["reason"]), int(facts["refunded"]))
    raise ValueError(f"no mail of kind {kind!r}")
