"""The Product aggregate: catalog entry and its stock on hand."""

from __future__ import annotations

from eventsourcing.domain import Aggregate, event

from write_side.domain.claims import normalize_sku
from write_side.domain.errors import InsufficientStockError, InvalidValueError


class Product(Aggregate):
    class Created(Aggregate.Created):
        sku: str
        title: str
        description: str
        category: str
        price: int

    class StockAdjusted(Aggregate.Event):
        delta: int
        reason: str

    @classmethod
    def create(
        cls, *, sku: str, title: str, price: int, description: str = "", category: str = ""
    ) -> Product:
        sku = normalize_sku(sku)
        if not sku:
            raise InvalidValueError("sku must not be blank")
        if not title.strip():
            raise InvalidValueError("title must not be blank")
        if price < 0:
            raise InvalidValueError("price must not be negative")
        return cls(
            sku=sku, title=title.strip(), description=description, category=category, price=price
        )

    @event(Created)
    def __init__(self, sku: str, title: str, description: str, category: str, price: int) -> None:
        self.sku = sku
        self.title = title
        self.description = description
        self.category = category
        self.price = price
        self.status = "draft"
        self.on_hand = 0
        self.reserved = 0

    def adjust_stock(self, delta: int, reason: str = "") -> None:
        """Receive (delta > 0) or write off (delta < 0) stock; never below what is reserved."""
        if delta == 0:
            raise InvalidValueError("delta must not be zero")
        if self.on_hand + delta < self.reserved:
            raise InsufficientStockError(self.on_hand, delta)
        self._stock_adjusted(delta=delta, reason=reason)

    @event(StockAdjusted)
    def _stock_adjusted(self, delta: int, reason: str) -> None:
        self.on_hand += delta
