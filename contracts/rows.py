"""Read-model row shapes: what the query API returns and the projections write."""

from __future__ import annotations

from datetime import datetime
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
