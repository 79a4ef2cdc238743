"""The Product aggregate: catalog entry, its life cycle, and its stock.

Invariants: stock on hand never goes negative, and reserved never exceeds on hand.
Reservations are per order, so releasing or committing one is exact and repeatable.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from write_side.domain.claims import normalize_sku
from write_side.domain.errors import (
    InsufficientStockError,
    InvalidTransitionError,
    InvalidValueError,
    NotPurchasableError,
)

MAX_PRICE = 10**12
MAX_CATEGORIES = 10
MAX_CATEGORY_LENGTH = 100


def _checked_title(title: str) -> str:
    if not title.strip():
        raise InvalidValueError("title must not be blank")
    return title.strip()


def _checked_price(price: int) -> int:
    if not 0 <= price <= MAX_PRICE:
        raise InvalidValueError(f"price must be between 0 and {MAX_PRICE}")
    return price


def normalize_categories(labels: Iterable[str]) -> tuple[str, ...]:
    """Labels as stored: lower case, inner whitespace collapsed, each once, in the order
    given (the rule ``contracts.events.category_label`` publishes)."""
    normalized: list[str] = []
    for given in labels:
        label = " ".join(given.split()).casefold()
        if not label:
            raise InvalidValueError("a category must not be blank")
        if len(label) > MAX_CATEGORY_LENGTH:
            raise InvalidValueError(f"a category is at most {MAX_CATEGORY_LENGTH} characters")
        if label not in normalized:
            normalized.append(label)
    if len(normalized) > MAX_CATEGORIES:
        raise InvalidValueError(f"a product has at most {MAX_CATEGORIES} categories")
    return tuple(normalized)


class Product(Aggregate):
    #: The shape of a Product's attributes in snapshots (write_side/persistence/snapshots.py):
    #: bump it when an attribute is added, renamed or changes type, and loads pass over
    #: older snapshots instead of mis-reading them.
    #: 2: open reservations held as ``held`` (order id's 128-bit int -> quantity), was
    #: ``reserved`` (UUID -> quantity).
    state_version = 2

    def __deepcopy__(self, memo: dict[int, object]) -> Product:
        """The repository hands every command a deep copy of the cached product. Its only
        mutable attribute is ``held`` (int keys and values, immutable), so a copy of that
        dict is a deep copy: ``copy.deepcopy`` rebuilt every key, 650 ms per command on a
        product holding 30,000 open reservations (profiled)."""
        copied = object.__new__(type(self))
        state = dict(vars(self))
        state["held"] = dict(self.held)
        state["_pending_events"] = list(getattr(self, "_pending_events", []))
        object.__setattr__(copied, "__dict__", state)
        return copied

    class Created(Aggregate.Created):
        sku: str
        title: str
        description: str
        categories: tuple[str, ...]
        price: int

    class DetailsChanged(Aggregate.Event):
        title: str
        description: str
        categories: tuple[str, ...]

    class PriceChanged(Aggregate.Event):
        price: int

    class Published(Aggregate.Event):
        pass

    class Archived(Aggregate.Event):
        pass

    class StockAdjusted(Aggregate.Event):
        delta: int
        reason: str

    class StockReserved(Aggregate.Event):
        order_id: UUID
        quantity: int

    class StockReleased(Aggregate.Event):
        order_id: UUID
        quantity: int

    class StockCommitted(Aggregate.Event):
        order_id: UUID
        quantity: int

    @classmethod
    def create(
        cls,
        *,
        sku: str,
        title: str,
        price: int,
        description: str = "",
        categories: Iterable[str] = (),
    ) -> Product:
        sku = normalize_sku(sku)
        if not sku:
            raise InvalidValueError("sku must not be blank")
        return cls(
            sku=sku,
            title=_checked_title(title),
            description=description,
            categories=normalize_categories(categories),
            price=_checked_price(price),
        )

    @event(Created)
    def __init__(
        self, sku: str, title: str, description: str, categories: tuple[str, ...], price: int
    ) -> None:
        self.sku = sku
        self.title = title
        self.description = description
        self.categories = categories
        self.price = price
        self.status = "draft"
        self.on_hand = 0
        #: Open reservations: the order id as its 128-bit int -> quantity. Ints, not UUIDs:
        #: a bestseller holds tens of thousands, and a snapshot's load built a UUID for each
        #: (UUID() is Python code: 38 of a cold command's 66 ms at 34,000, profiled).
        self.held: dict[int, int] = {}

    @property
    def reserved(self) -> dict[UUID, int]:
        """The open reservations by order id (a copy, for reading)."""
        return {UUID(int=order): quantity for order, quantity in self.held.items()}

    @property
    def reserved_total(self) -> int:
        return sum(self.held.values())

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved_total

    # Catalog

    def change_details(
        self,
        *,
        title: str | None = None,
        description: str | None = None,
        categories: Iterable[str] | None = None,
    ) -> None:
        new = (
            _checked_title(title) if title is not None else self.title,
            description if description is not None else self.description,
            normalize_categories(categories) if categories is not None else self.categories,
        )
        if new != (self.title, self.description, self.categories):
            self._details_changed(title=new[0], description=new[1], categories=new[2])

    @event(DetailsChanged)
    def _details_changed(self, title: str, description: str, categories: tuple[str, ...]) -> None:
        self.title, self.description, self.categories = title, description, categories

    def change_price(self, price: int) -> None:
        if _checked_price(price) != self.price:
            self._price_changed(price=price)

    @event(PriceChanged)
    def _price_changed(self, price: int) -> None:
        self.price = price

    def publish(self) -> None:
        if self.status != "draft":
            raise InvalidTransitionError("product", self.status, "publish")
        self._published()

    @event(Published)
    def _published(self) -> None:
        self.status = "published"

    def archive(self) -> None:
        if self.status == "archived":
            raise InvalidTransitionError("product", self.status, "archive")
        self._archived()

    @event(Archived)
    def _archived(self) -> None:
        self.status = "archived"

    # Inventory

    def adjust_stock(self, delta: int, reason: str = "") -> None:
        """Receive (delta > 0) or write off (delta < 0) stock; never below what is reserved."""
        if delta == 0:
            raise InvalidValueError("delta must not be zero")
        if self.on_hand + delta < self.reserved_total:
            raise InsufficientStockError(self.on_hand, delta)
        self._stock_adjusted(delta=delta, reason=reason)

    @event(StockAdjusted)
    def _stock_adjusted(self, delta: int, reason: str) -> None:
        self.on_hand += delta

    def reserve(self, order_id: UUID, quantity: int) -> None:
        if self.status != "published":
            raise NotPurchasableError(self.id, self.status)
        if quantity <= 0:
            raise InvalidValueError("quantity must be positive")
        if order_id.int in self.held:
            raise InvalidTransitionError("reservation", "existing", "reserve again")
        if quantity > self.available:
            raise InsufficientStockError(self.available, -quantity)
        self._stock_reserved(order_id=order_id, quantity=quantity)

    @event(StockReserved)
    def _stock_reserved(self, order_id: UUID, quantity: int) -> None:
        self.held[order_id.int] = quantity

    def release(self, order_id: UUID) -> None:
        """Give an order's reservation back (a no-op if it holds none)."""
        if order_id.int in self.held:
            self._stock_released(order_id=order_id, quantity=self.held[order_id.int])

    @event(StockReleased)
    def _stock_released(self, order_id: UUID, quantity: int) -> None:
        del self.held[order_id.int]

    def commit(self, order_id: UUID) -> None:
        """The order shipped: its reserved units leave the shelf."""
        if order_id.int not in self.held:
            raise InvalidTransitionError("reservation", "missing", "commit")
        self._stock_committed(order_id=order_id, quantity=self.held[order_id.int])

    @event(StockCommitted)
    def _stock_committed(self, order_id: UUID, quantity: int) -> None:
        del self.held[order_id.int]
        self.on_hand -= quantity
