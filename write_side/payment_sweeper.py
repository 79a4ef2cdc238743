"""Settles payments left ``started``: the guarantee does not depend on a client retrying.

A payment is ``started`` from just before the gateway is called until its outcome is
recorded. One still ``started`` a while later means a timeout or a crash that nobody
retried: the gateway may hold money the order does not know about. The sweeper follows
the notification log for payment starts and, past ``settle_after_seconds``, asks the
gateway again with the same key (:meth:`Shop.settle_payment`).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

from contracts.events import PaymentRestarted, PaymentStarted
from contracts.upcasting import decode_topic, stored_topic
from write_side.application import Shop

log = logging.getLogger(__name__)
_TOPICS = [stored_topic(c.type_name, c.schema_version) for c in (PaymentStarted, PaymentRestarted)]


@dataclass
class PaymentSweeper:
    shop: Shop
    settle_after_seconds: float = 30.0
    interval_seconds: float = 5.0
    last_notification_id: int = 0
    #: payment id → when its current attempt started
    pending: dict[UUID, datetime] = field(default_factory=dict)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.sweep_once()
            except Exception:  # an outage must not end the sweeper; it tries again
                log.exception("payment sweeper: sweep failed")
            stop.wait(self.interval_seconds)

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

    def _follow_log(self) -> None:
        while True:
            notifications = self.shop.recorder.select_notifications(
                start=self.last_notification_id,
                limit=500,
                topics=_TOPICS,
                inclusive_of_start=False,
            )
            for n in notifications:
                event = decode_topic(n.topic, n.state)
                self.pending[UUID(str(n.originator_id))] = event.occurred_at
                self.last_notification_id = n.id
            if len(notifications) < 500:
                return
