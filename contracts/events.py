"""Event payload schemas: what is stored in the event store and published to Kafka.

A stored event *is* its contract payload (DESIGN.md §2). Names and fields are persisted
forever: add optional fields, never rename; anything else is a new ``schema_version``
with an upcaster in :mod:`contracts.upcasting`.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict


class ContractEvent(BaseModel):
    """Base of every event payload. ``type_name`` and ``schema_version`` form the stored topic."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    type_name: ClassVar[str]
    schema_version: ClassVar[int] = 1
    #: Published events go to ``shop.<context>``; ``None`` keeps an event internal to
    #: the write side (uniqueness claims): stored, never relayed.
    context: ClassVar[str | None]

    occurred_at: datetime


class CustomerRegistered(ContractEvent):
    type_name = "CustomerRegistered"
    context = "customers"

    email: str
    name: str
    role: str = "customer"


class CustomerRenamed(ContractEvent):
    type_name = "CustomerRenamed"
    context = "customers"

    name: str


class CustomerEmailChanged(ContractEvent):
    type_name = "CustomerEmailChanged"
    context = "customers"

    email: str


class PasswordSet(ContractEvent):
    """Internal: a customer's credentials. The hash never leaves the event store."""

    type_name = "PasswordSet"
    context = None

    customer_id: UUID
    password_hash: str


class EmailClaimed(ContractEvent):
    """Internal: the email's claim aggregate was taken by ``customer_id``."""

    type_name = "EmailClaimed"
    context = None

    email: str
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
    type_name = "ProductCreated"
    context = "catalog"

    sku: str
    title: str
    description: str = ""
    category: str = ""
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


ALL_EVENTS: tuple[type[ContractEvent], ...] = (
    CustomerRegistered,
    CustomerRenamed,
    CustomerEmailChanged,
    PasswordSet,
    EmailClaimed,
    EmailReleased,
    EmailReclaimed,
    ProductCreated,
    SkuClaimed,
    StockAdjusted,
)
