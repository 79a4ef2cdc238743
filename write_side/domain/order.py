"""The Order aggregate: placed → paid → shipped; placed | paid → cancelled."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from write_side.domain.errors import InvalidTransitionError, InvalidValueError

MAX_LINES = 100
MAX_QUANTITY = 10_000


@dataclass(frozen=True)
class LineItem:
    """Title and unit price are snapshots taken when the order was placed."""

    product_id: UUID
    sku: str
    title: str
    unit_price: int
    quantity: int

    @property
    def line_total(self) -> int:
        return self.unit_price * self.quantity


class Order(Aggregate):
    class Placed(Aggregate.Created):
        customer_id: UUID
        lines: tuple[LineItem, ...]
        total: int

    class Paid(Aggregate.Event):
        payment_id: UUID
        amount: int

    class Shipped(Aggregate.Event):
        pass

    class Cancelled(Aggregate.Event):
        refunded: int
        reason: str

    @classmethod
    def place(cls, *, customer_id: UUID, lines: list[LineItem]) -> Order:
        if not 1 <= len(lines) <= MAX_LINES:
            raise InvalidValueError(f"an order has 1 to {MAX_LINES} lines")
        if len({line.product_id for line in lines}) != len(lines):
            raise InvalidValueError("each product may appear on one line only")
        if any(not 1 <= line.quantity <= MAX_QUANTITY for line in lines):
            raise InvalidValueError(f"quantities are 1 to {MAX_QUANTITY}")
        total = sum(line.line_total for line in lines)
        return cls(customer_id=customer_id, lines=tuple(lines), total=total)

    @event(Placed)
    def __init__(self, customer_id: UUID, lines: tuple[LineItem, ...], total: int) -> None:
        self.customer_id = customer_id
        self.lines = lines
        self.total = total
        self.status = "placed"
        self.paid_amount = 0
        self.payment_id: UUID | None = None

    def pay(self, payment_id: UUID, amount: int) -> None:
        if self.status != "placed":
            raise InvalidTransitionError("order", self.status, "pay")
        if amount != self.total:
            raise InvalidValueError(f"payment of {amount} does not match total {self.total}")
        self._paid(payment_id=payment_id, amount=amount)

    @event(Paid)
    def _paid(self, payment_id: UUID, amount: int) -> None:
        self.status = "paid"
        self.payment_id = payment_id
        self.paid_amount = amount

    def ship(self) -> None:
        if self.status != "paid":
            raise InvalidTransitionError("order", self.status, "ship")
        self._shipped()

    @event(Shipped)
    def _shipped(self) -> None:
        self.status = "shipped"

    def cancel(self, reason: str = "") -> None:
        """Cancel before shipping; what was paid is to be refunded in full."""
        if self.status not in ("placed", "paid"):
            raise InvalidTransitionError("order", self.status, "cancel")
        self._cancelled(refunded=self.paid_amount, reason=reason)

    @event(Cancelled)
    def _cancelled(self, refunded: int, reason: str) -> None:
        self.status = "cancelled"
