"""Every projection this package builds, by name."""

from __future__ import annotations

from projections.models.customers import CUSTOMERS
from projections.models.orders import ORDERS
from projections.models.products import PRODUCTS
from projections.models.sales import SALES
from projections.projection import Projection

PROJECTIONS: dict[str, Projection] = {p.name: p for p in (CUSTOMERS, PRODUCTS, ORDERS, SALES)}
