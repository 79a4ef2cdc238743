"""Every projection this package builds, by name."""

from __future__ import annotations

from projections.customers import CUSTOMERS
from projections.orders import ORDERS
from projections.products import PRODUCTS
from projections.projection import Projection
from projections.sales import SALES

PROJECTIONS: dict[str, Projection] = {p.name: p for p in (CUSTOMERS, PRODUCTS, ORDERS, SALES)}
