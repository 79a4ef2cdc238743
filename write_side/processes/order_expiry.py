"""The order process manager: an order not paid in time is cancelled as expired.

It follows the event store's notification log (as the payment sweeper does, not Kafka:
the write side reads its own log) and keeps one durable timer per placed order in
PostgreSQL (``order_timers``), due ``timeout_seconds`` after the order was placed. The
timers and the position it has read the log to commit in one transaction, under a lock
on that position: two instances never record a timer twice, and a restart loses none.

Due timers are taken with ``FOR UPDATE SKIP LOCKED`` (each fires in one instance) and
fired as a normal command, :meth:`Shop.expire_order`, which cancels the order only if it
is still ``placed`` and saves with the version it read. So a payment racing the expiry
leaves one outcome: paid (the expiry then finds it paid and changes nothing), or expired
with any capture refunded (the payment finds the order cancelled). A crash after the
command and before the timer is marked fired fires it again, and the order, no longer
placed, does not change: the effect happens once.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, LiteralString
from uuid import UUID

import psycopg
from psycopg import sql

from contracts.causation import EventMeta, event_id
from contracts.events import OrderCancelled, OrderPaid, OrderPlaced
from contracts.signals import Signal, wait_paced
from contracts.upcasting import decode_topic, every_stored_topic, parse_topic
from write_side.application.shop import Shop
from write_side.application.types import CommandContext, NotFoundError
from write_side.domain.errors import InvalidTransitionError
from write_side.persistence.outages import Backoff

log = logging.getLogger(__name__)
NAME = "order_expiry"
PRUNE_EVERY_SECONDS = 600.0
#: Timers fired per round; a full batch means more may be due: no pause then.
FIRE_BATCH = 20
_SETTLED = {OrderPaid.type_name: "paid", OrderCancelled.type_name: "cancelled"}


@dataclass
class OrderExpiry:
    shop: Shop
    database_url: str
    schema: str
    timeout_seconds: float = 1800.0
    interval_seconds: float = 0.5
    #: New events wake it (the event store's NOTIFY); then it waits until the next timer
    #: is due, at most ``idle_poll_seconds``. Without one it polls every interval.
    news: Signal | None = None
    idle_poll_seconds: float = 5.0
    expired: int = 0
    #: Fired and settled timers are kept this long (for operators), then deleted: without
    #: it the table grows by a row per order for good (docs/operations.md, "Capacity").
    keep_fired: timedelta = timedelta(days=1)
    pruned: int = 0
    _pruned_at: float = field(default=-1e9, repr=False)

    def run(self, stop: threading.Event) -> None:
        conn: psycopg.Connection[Any] | None = None
        backoff = Backoff(self.interval_seconds)
        try:
            while not stop.is_set():
                seen, idle = self.news.generation if self.news else 0, False
                try:
                    if conn is None or conn.closed:
                        conn = psycopg.connect(self.database_url)
                    self.follow(conn)
                    fired = self.fire_due(conn, FIRE_BATCH)
                    if time.monotonic() - self._pruned_at > PRUNE_EVERY_SECONDS:
                        self.prune(conn)
                    pause = backoff.succeeded()
                    if self.news is not None and sum(fired.values()) < FIRE_BATCH:
                        pause, idle = self._until_next_due(conn), True
                except Exception as error:  # an outage must not end the manager
                    pause = backoff.failed("order process manager", error, log)
                    if conn is not None:
                        conn.close()  # a fresh connection next round
                    conn = None
                if idle and self.news is not None:
                    wait_paced(self.news, seen, stop, self.interval_seconds, pause)
                else:
                    stop.wait(pause)
        finally:
            if conn is not None:
                conn.close()

    def _until_next_due(self, conn: psycopg.Connection[Any]) -> float:
        """Seconds until the next unfired timer is due, within [interval, idle poll]: one
        due now but locked by another instance is not waited on in a busy loop."""
        row = conn.execute(
            self._sql(
                "SELECT extract(epoch FROM min(due_at) - now()) FROM {} WHERE fired_at IS NULL",
                "timers",
            )
        ).fetchone()
        conn.commit()  # no transaction held while it sleeps (its now() would stand still)
        due_in = self.idle_poll_seconds if row is None or row[0] is None else float(row[0])
        return min(max(due_in, self.interval_seconds), self.idle_poll_seconds)

    def run_once(self) -> dict[str, int]:
        """Read the log into timers, then fire the due ones; returns outcomes by name."""
        with psycopg.connect(self.database_url) as conn:
            self.follow(conn)
            return self.fire_due(conn)

    def prune(self, conn: psycopg.Connection[Any]) -> int:
        """Delete timers fired or settled more than ``keep_fired`` ago, a batch at a time
        (never a long lock); returns how many."""
        self._pruned_at, deleted = time.monotonic(), 0
        while True:
            with conn.transaction():
                batch = conn.execute(
                    self._sql(
                        "DELETE FROM {0} WHERE order_id IN (SELECT order_id FROM {0}"
                        " WHERE fired_at < now() - %s LIMIT 5000)",
                        "timers",
                    ),
                    (self.keep_fired,),
                ).rowcount
            deleted += batch
            if batch < 5000:
                self.pruned += deleted
                return deleted

    def follow(self, conn: psycopg.Connection[Any]) -> int:
        """Record a timer per newly placed order, settle those paid or cancelled; returns
        how many notifications were read."""
        read = 0
        while True:
            with conn.transaction():
                position = self._lock_position(conn)
                notifications = self.shop.recorder.select_notifications(
                    start=position,
                    limit=500,
                    # Every schema version of each: an order an older release placed
                    # expires too.
                    topics=every_stored_topic(OrderPlaced, OrderPaid, OrderCancelled),
                    inclusive_of_start=False,
                )
                for n in notifications:
                    self._record(
                        conn, n.topic, UUID(str(n.originator_id)), n.state, n.originator_version
                    )
                if notifications:
                    conn.execute(
                        self._sql(
                            "UPDATE {} SET notification_id = %s WHERE name = %s", "positions"
                        ),
                        (notifications[-1].id, NAME),
                    )
            read += len(notifications)
            if len(notifications) < 500:
                return read

    def fire_due(self, conn: psycopg.Connection[Any], limit: int = 20) -> dict[str, int]:
        outcomes: dict[str, int] = {}
        with conn.transaction():
            due = conn.execute(
                self._sql(
                    "SELECT order_id, correlation_id, cause_event FROM {}"
                    " WHERE fired_at IS NULL AND due_at <= now()"
                    " ORDER BY due_at LIMIT %s FOR UPDATE SKIP LOCKED",
                    "timers",
                ),
                (limit,),
            ).fetchall()
            for order_id, correlation_id, cause_event in due:
                cause = EventMeta(
                    correlation_id=correlation_id or cause_event or str(order_id),
                    causation_id=cause_event or "",
                    actor=f"process:{NAME}",
                )
                outcome = self._fire(order_id, CommandContext(cause=cause))
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
                conn.execute(
                    self._sql(
                        "UPDATE {} SET fired_at = now(), outcome = %s WHERE order_id = %s",
                        "timers",
                    ),
                    (outcome, order_id),
                )
        return outcomes

    def _fire(self, order_id: UUID, ctx: CommandContext) -> str:
        """Expire the order, as caused by its OrderPlaced (the chain goes back to the
        request that placed it: contracts/causation.py)."""
        try:
            self.shop.expire_order(order_id, ctx=ctx)
        except InvalidTransitionError as error:
            return str(error.state)  # paid, shipped or cancelled in time: nothing to do
        except NotFoundError:
            return "missing"
        self.expired += 1
        log.info(
            "order process manager: order %s expired unpaid",
            order_id,
            extra={"correlation_id": ctx.cause.correlation_id if ctx.cause else ""},
        )
        return "expired"

    def _record(
        self,
        conn: psycopg.Connection[Any],
        topic: str,
        order_id: UUID,
        state: bytes,
        version: int,
    ) -> None:
        type_name, _ = parse_topic(topic)
        if type_name == OrderPlaced.type_name:
            placed = decode_topic(topic, state)
            conn.execute(
                self._sql(
                    "INSERT INTO {} (order_id, due_at, correlation_id, cause_event)"
                    " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    "timers",
                ),
                (
                    order_id,
                    placed.occurred_at + timedelta(seconds=self.timeout_seconds),
                    placed.meta.correlation_id if placed.meta else None,
                    event_id(order_id, version),
                ),
            )
        else:  # settled in time: the timer will not fire
            conn.execute(
                self._sql(
                    "UPDATE {} SET fired_at = now(), outcome = %s"
                    " WHERE order_id = %s AND fired_at IS NULL",
                    "timers",
                ),
                (_SETTLED[type_name], order_id),
            )

    def _lock_position(self, conn: psycopg.Connection[Any]) -> int:
        conn.execute(
            self._sql("INSERT INTO {} (name) VALUES (%s) ON CONFLICT DO NOTHING", "positions"),
            (NAME,),
        )
        row = conn.execute(
            self._sql("SELECT notification_id FROM {} WHERE name = %s FOR UPDATE", "positions"),
            (NAME,),
        ).fetchone()
        assert row is not None
        return int(row[0])

    def _sql(self, text: LiteralString, table: str) -> sql.Composed:
        name = {"positions": "process_positions", "timers": "order_timers"}[table]
        return sql.SQL(text).format(sql.Identifier(self.schema, name))
