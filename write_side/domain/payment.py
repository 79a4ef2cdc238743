"""The Payment aggregate: one per order, recorded before the gateway is called.

``started`` means "the gateway may have captured": the only state from which the outcome
is unknown. Asking the gateway again with the same ``gateway_key`` returns the first
outcome, so a retry after a timeout or a crash finds out what happened instead of
charging twice.
"""

from __future__ import annotations

from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from write_side.domain.errors import InvalidTransitionError

_NAMESPACE = UUID("0b6f7a52-7d0e-4b55-9a3c-2a4d8e6f1c90")


class Payment(Aggregate):
    class Started(Aggregate.Created):
        order_id: UUID
        amount: int
        token: str

    class Restarted(Aggregate.Event):
        token: str

    class Captured(Aggregate.Event):
        pass

    class Declined(Aggregate.Event):
        reason: str

    class Failed(Aggregate.Event):
        reason: str

    class Refunded(Aggregate.Event):
        amount: int

    @staticmethod
    def create_id(order_id: UUID) -> UUID:
        return uuid5(_NAMESPACE, f"payment:{order_id}")

    @event(Started)
    def __init__(self, order_id: UUID, amount: int, token: str) -> None:
        self.order_id = order_id
        self.amount = amount
        self.token = token
        self.status = "started"
        self.attempt = 1

    @property
    def gateway_key(self) -> str:
        """The gateway's idempotency key: one per attempt, stable across retries."""
        return f"{self.id}:{self.attempt}"

    def restart(self, token: str) -> None:
        """A new attempt, allowed once the last one definitely took no money."""
        if self.status not in ("declined", "failed"):
            raise InvalidTransitionError("payment", self.status, "restart")
        self._restarted(token=token)

    @event(Restarted)
    def _restarted(self, token: str) -> None:
        self.token = token
        self.status = "started"
        self.attempt += 1

    def capture(self) -> None:
        self._require("started", "capture")
        self._captured()

    @event(Captured)
    def _captured(self) -> None:
        self.status = "captured"

    def decline(self, reason: str) -> None:
        self._require("started", "decline")
        self._declined(reason=reason)

    @event(Declined)
    def _declined(self, reason: str) -> None:
        self.status = "declined"

    def fail(self, reason: str) -> None:
        self._require("started", "fail")
        self._failed(reason=reason)

    @event(Failed)
    def _failed(self, reason: str) -> None:
        self.status = "failed"

    def refund(self) -> None:
        self._require("captured", "refund")
        self._refunded(amount=self.amount)

    @event(Refunded)
    def _refunded(self, amount: int) -> None:
        self.status = "refunded"

    def _require(self, status: str, action: str) -> None:
        if self.status != status:
            raise InvalidTransitionError("payment", self.status, action)
