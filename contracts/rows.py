"""Read-model row shapes: what the query API returns and the projections write."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict


class CustomerView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: UUID
    email: str
    name: str
    role: str
    order_count: int
    lifetime_value: int
    last_order_at: datetime | None


class ProductView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: UUID
    sku: str
    title: str
    description: str
    categories: list[str]
    #: Deprecated: the first of ``categories`` (``""`` without any), for v1 clients.
    category: str
    price: int
    status: str
    on_hand: int
    reserved: int
    available: int
    units_sold: int


class ProductPage(BaseModel):
    items: list[ProductView]
    next_cursor: str | None


class CategoryCount(BaseModel):
    category: str
    #: How many of the products the filters select carry this label.
    products: int


class CategoryFacets(BaseModel):
    """The labels of the products a catalog search selects, most used first (at most 100)."""

    items: list[CategoryCount]


class OrderCustomer(BaseModel):
    """``name`` and ``email`` are null until the customer's events reach the orders view."""

    id: UUID
    name: str | None
    email: str | None


class OrderLineView(BaseModel):
    product_id: UUID
    sku: str
    title: str
    quantity: int
    unit_price: int
    line_total: int


class OrderView(BaseModel):
    id: UUID
    status: str
    customer: OrderCustomer
    lines: list[OrderLineView]
    total: int
    payment_status: str
    placed_at: datetime
    paid_at: datetime | None
    shipped_at: datetime | None
    cancelled_at: datetime | None
    #: Why it was cancelled: empty when the customer or an admin cancelled it, ``expired``
    #: when it was not paid in time.
    cancel_reason: str = ""


class OrderPage(BaseModel):
    items: list[OrderView]
    next_cursor: str | None


class ProjectionPartition(BaseModel):
    """How far one projection is on one partition of one topic."""

    projection: str
    topic: str
    partition: int
    position: int  # highest event-store notification id processed
    lag_events: int  # records the relay got acknowledged here that are not applied yet
    relay_backlog: int = 0  # stored events the relay has not published yet (all topics)
    lag_seconds: float  # since the projection last moved here, while anything is behind
    applied: int
    duplicates: int
    skipped: int
    parked: int  # events parked now: behind a gap, a dead letter, or needing an upgrade
    dead_lettered: int  # events ever dead-lettered here
    held_letters: int = 0  # dead letters holding their aggregate's later events now
    #: Events waiting for a release that reads their type or schema version, and the types.
    needs_upgrade: int = 0
    upgrade_types: str | None = None
    rewinds: int
    relay_epoch: int
    #: live | stalled | down (no live instance holds it) | relay down | relay blocked |
    #: needs upgrade (an event of a newer schema version waits)
    state: str
    owner: str | None = None  # host:pid of the instance holding the partition
    member_id: str | None = None  # its consumer-group member id
    heartbeat_at: datetime | None = None  # when that instance last said so
    updated_at: datetime


class SalesDay(BaseModel):
    """One UTC day: orders placed and paid, money taken and money refunded that day."""

    day: date
    orders_placed: int
    orders_paid: int
    revenue: int
    refunded: int
