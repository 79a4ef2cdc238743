"""Event payload schemas: what is stored in the event store and published to Kafka.

A stored event *is* its contract payload (docs/architecture.md, "Stored event = contract").
Names and fields are persisted forever: add optional fields, never rename; anything else is a
new ``schema_version`` with an upcaster in :mod:`contracts.upcasting`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from contracts.causation import EventMeta


class ContractEvent(BaseModel):
    """Base of every event payload. ``type_name`` and ``schema_version`` form the stored topic."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    type_name: ClassVar[str]
    schema_version: ClassVar[int] = 1
    #: Published events go to ``shop.<context>``; ``None`` keeps an event internal to
    #: the write side (uniqueness claims): stored, never relayed.
    context: ClassVar[str | None]

    occurred_at: datetime
    #: Correlation, causation and actor (:mod:`contracts.causation`); absent on events
    #: stored before it existed and on events no request or process caused.
    meta: EventMeta | None = None


#: A personal field: in payloads of the current version it is sealed under its customer's
#: key (:mod:`contracts.personal`); readers with the key open it, others see ciphertext.
Personal = Annotated[str, Field(json_schema_extra={"x-personal": "sealed"})]


class CustomerRegistered(ContractEvent):
    """v2: ``email`` and ``name`` sealed (v1 held them in clear)."""

    type_name = "CustomerRegistered"
    schema_version = 2
    context = "customers"

    email: Personal
    name: Personal
    role: str = "customer"


class CustomerRenamed(ContractEvent):
    """v2: ``name`` sealed."""

    type_name = "CustomerRenamed"
    schema_version = 2
    context = "customers"

    name: Personal


class CustomerEmailChanged(ContractEvent):
    """v2: ``email`` sealed."""

    type_name = "CustomerEmailChanged"
    schema_version = 2
    context = "customers"

    email: Personal


class CustomerErased(ContractEvent):
    """The customer was forgotten: their key is destroyed, so every sealed value of theirs
    reads as ``"erased"`` from now on. ``by`` says who asked: ``customer``, ``admin:<id>``
    or ``operator``."""

    type_name = "CustomerErased"
    context = "customers"

    by: str


class PasswordSet(ContractEvent):
    """Internal: a customer's credentials. The hash never leaves the event store."""

    type_name = "PasswordSet"
    context = None

    customer_id: UUID
    password_hash: str


class EmailClaimed(ContractEvent):
    """Internal: the email's claim aggregate was taken by ``customer_id``. v2: ``email``
    sealed under that customer's key."""

    type_name = "EmailClaimed"
    schema_version = 2
    context = None

    email: Personal
    customer_id: UUID


class EmailReleased(ContractEvent):
    """Internal: the email is free again (its customer changed address)."""

    type_name = "EmailReleased"
    context = None


class EmailReclaimed(ContractEvent):
    """Internal: a released email was taken again, by ``customer_id``."""

    type_name = "EmailReclaimed"
    context = None

    customer_id: UUID


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


def category_label(label: str) -> str:
    """A category as stored: lower case, inner whitespace collapsed (``" Kitchen  Tools"`` →
    ``"kitchen tools"``). Queries normalize a wanted category the same way."""
    return " ".join(label.split()).casefold()


#: Every current event type above, in the order they are defined (past schema versions,
#: kept in :mod:`contracts.past`, subclass ContractEvent too but are not listed).
ALL_EVENTS: tuple[type[ContractEvent], ...] = tuple(
    cls for cls in ContractEvent.__subclasses__() if cls.__module__ == __name__
)
