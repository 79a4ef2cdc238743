"""Event payload schemas: what is stored in the event store and published to Kafka.

A stored event *is* its contract payload (docs/architecture.md, "Stored event = contract").
Names and fields are persisted forever: add optional fields, never rename; anything else is a
new ``schema_version`` with an upcaster in :mod:`contracts.upcasting`.
"""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, ConfigDict

from contracts.customer_events import (
    CustomerEmailChanged,
    CustomerErased,
    CustomerRegistered,
    CustomerRenamed,
    EmailClaimed,
    EmailReclaimed,
    EmailReleased,
    PasswordSet,
)
from contracts.event_base import ContractEvent, Personal, category_label

__all__ = [
    "ContractEvent",
    "CustomerEmailChanged",
    "CustomerErased",
    "CustomerRegistered",
    "CustomerRenamed",
    "EmailClaimed",
    "EmailReclaimed",
    "EmailReleased",
    "PasswordSet",
    "Personal",
    "category_label",
]


class ProductCreated(ContractEvent):
    """v2: ``categories`` (normalized labels, at most 10) replaced v1's one ``category``."""

    type_name = "ProductCreated"
    schema_version = 2
    context = "catalog"

    sku: str
    title: str
    description: str = ""
    categories: tuple[str, ...] = ()
    price: int


class SkuClaimed(ContractEvent):
    """Internal: the sku's claim aggregate was taken by ``product_id``."""

    type_name = "SkuClaimed"
    context = None

    sku: str
    product_id: UUID


class StockAdjusted(ContractEvent):
    """Stock on hand changed by ``delta`` (received when positive, written off when negative)."""

    type_name = "StockAdjusted"
    context = "catalog"

    delta: int
    reason: str = ""


class ProductDetailsChanged(ContractEvent):
    """The catalog fields after the change (all of them, not only what changed).

    v2: ``categories`` replaced v1's one ``category``.
    """

    type_name = "ProductDetailsChanged"
    schema_version = 2
    context = "catalog"

    title: str
    description: str
    categories: tuple[str, ...]


class ProductPriceChanged(ContractEvent):
    type_name = "ProductPriceChanged"
    context = "catalog"

    price: int


class ProductPublished(ContractEvent):
    type_name = "ProductPublished"
    context = "catalog"


class ProductArchived(ContractEvent):
    type_name = "ProductArchived"
    context = "catalog"


class StockReserved(ContractEvent):
    """``quantity`` units held for ``order_id``: still on hand, no longer available."""

    type_name = "StockReserved"
    context = "catalog"

    order_id: UUID
    quantity: int


class StockReleased(ContractEvent):
    """The order's reservation returned to available stock (cancelled before shipping)."""

    type_name = "StockReleased"
    context = "catalog"

    order_id: UUID
    quantity: int


class StockCommitted(ContractEvent):
    """The order shipped: its reserved units left stock on hand, and count as sold."""

    type_name = "StockCommitted"
    context = "catalog"

    order_id: UUID
    quantity: int


class OrderLine(BaseModel):
    """A line as placed: title and unit price are snapshots taken at placing."""

    model_config = ConfigDict(frozen=True, from_attributes=True)

    product_id: UUID
    sku: str
    title: str
    unit_price: int
    quantity: int


class OrderPlaced(ContractEvent):
    type_name = "OrderPlaced"
    context = "orders"

    customer_id: UUID
    lines: tuple[OrderLine, ...]
    total: int


class OrderPaid(ContractEvent):
    type_name = "OrderPaid"
    context = "orders"

    payment_id: UUID
    amount: int


class OrderShipped(ContractEvent):
    type_name = "OrderShipped"
    context = "orders"


class OrderCancelled(ContractEvent):
    """``refunded`` is what went back to the customer (0 if the order was never paid)."""

    type_name = "OrderCancelled"
    context = "orders"

    refunded: int
    reason: str = ""


class PaymentStarted(ContractEvent):
    """Internal: recorded before the gateway is called, so no capture goes unnoticed."""

    type_name = "PaymentStarted"
    context = None

    order_id: UUID
    amount: int
    token: str


class PaymentRestarted(ContractEvent):
    """Internal: a new attempt after a decline or a gateway error, with another token."""

    type_name = "PaymentRestarted"
    context = None

    token: str


class PaymentCaptured(ContractEvent):
    type_name = "PaymentCaptured"
    context = None


class PaymentDeclined(ContractEvent):
    type_name = "PaymentDeclined"
    context = None

    reason: str


class PaymentFailed(ContractEvent):
    """Internal: the gateway reported an error; nothing was captured."""

    type_name = "PaymentFailed"
    context = None

    reason: str


class PaymentRefunded(ContractEvent):
    type_name = "PaymentRefunded"
    context = None

    amount: int


#: Every current event type, customers' first, in the order they are defined (past schema
#: versions, kept in :mod:`contracts.past`, subclass ContractEvent too but are not listed).
ALL_EVENTS: tuple[type[ContractEvent], ...] = tuple(
    cls
    for cls in ContractEvent.__subclasses__()
    if cls.__module__ in (__name__, "contracts.customer_events")
)
