"""Settles payments left ``started``: the guarantee does not depend on a client retrying.

A payment is ``started`` from just before the gateway is called until its outcome is
recorded. One still ``started`` a while later means a timeout or a crash that nobody
retried: the gateway may hold money the order does not know about. The sweeper follows
the notification log for payment starts and, past ``settle_after_seconds``, asks the
gateway again with the same key (:meth:`Shop.settle_payment`).

The same process is the write side's janitor: every ``key_sweep_seconds`` it deletes
idempotency keys past their retention, in small batches (:mod:`write_side.persistence.recorder`).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

from contracts.events import PaymentRestarted, PaymentStarted
from contracts.upcasting import decode_topic, every_stored_topic
from write_side.application.shop import Shop
from write_side.persistence.outages import Backoff
from write_side.persistence.recorder import IdempotentPostgresRecorder

log = logging.getLogger(__name__)


@dataclass
class PaymentSweeper:
    shop: Shop
    settle_after_seconds: float = 30.0
    interval_seconds: float = 5.0
    last_notification_id: int = 0
    #: payment id → when its current attempt started
    pending: dict[UUID, datetime] = field(default_factory=dict)
    key_sweep_seconds: float = 60.0
    expired_keys_deleted: int = 0
    _last_key_sweep: float = -1e9

    def run(self, stop: threading.Event) -> None:
        backoff = Backoff(self.interval_seconds, cap=max(self.interval_seconds, 5.0))
        while not stop.is_set():
            try:
                self.sweep_once()
                if time.monotonic() - self._last_key_sweep >= self.key_sweep_seconds:
                    self._last_key_sweep = time.monotonic()
                    self.sweep_keys()
                pause = backoff.succeeded()
            except Exception as error:  # an outage must not end the sweeper
                pause = backoff.failed("payment sweeper", error, log)
            stop.wait(pause)

    def sweep_once(self, now: datetime | None = None) -> dict[str, int]:
        """Learn of new attempts, then settle the ones old enough; returns status counts."""
        self._follow_log()
        now = now or datetime.now(UTC)
        settled: dict[str, int] = {}
        for payment_id, started_at in list(self.pending.items()):
            if (now - started_at).total_seconds() < self.settle_after_seconds:
                continue
            status = self.shop.settle_payment(payment_id)
            settled[status] = settled.get(status, 0) + 1
            if status != "started":
                del self.pending[payment_id]
            else:
                log.warning("payment sweeper: %s still unsettled", payment_id)
        return settled

    def sweep_keys(self) -> int:
        """Delete expired idempotency keys; returns how many."""
        recorder = self.shop.recorder
        if not isinstance(recorder, IdempotentPostgresRecorder):
            return 0
        deleted = recorder.delete_expired()
        self.expired_keys_deleted += deleted
        if deleted:
            log.info("payment sweeper: %d expired idempotency key(s) deleted", deleted)
        return deleted

    def _follow_log(self) -> None:
        while True:
            notifications = self.shop.recorder.select_notifications(
                start=self.last_notification_id,
                limit=500,
                # Every schema version of each: a payment an older release started too.
                topics=every_stored_topic(PaymentStarted, PaymentRestarted),
                inclusive_of_start=False,
            )
            for n in notifications:
                event = decode_topic(n.topic, n.state)
                self.pending[UUID(str(n.originator_id))] = event.occurred_at
                self.last_notification_id = n.id
            if len(notifications) < 500:
                return
