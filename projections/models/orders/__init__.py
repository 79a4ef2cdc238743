"""The ``orders`` read model: each order with its customer's and products' current names.

Order, customer and product events come on different topics in any relative order, so
the projection keeps what it knows of customers and products in its own tables, and
the query joins them: the rows converge whatever arrives first, and a later rename or
retitle shows on every order. Unit prices stay as snapshotted when the order was placed.
"""

from __future__ import annotations

from contracts.events import (
    CustomerEmailChanged,
    CustomerRegistered,
    CustomerRenamed,
    OrderCancelled,
    OrderPaid,
    OrderPlaced,
    OrderShipped,
    ProductCreated,
    ProductDetailsChanged,
)
from projections.models.orders import folds, handlers
from projections.models.orders.tables import DDL, TABLES
from projections.projection import Projection

ORDERS = Projection(
    "orders",
    tables=TABLES,
    ddl=DDL,
    handlers={
        OrderPlaced: handlers.on_placed,
        OrderPaid: handlers.on_paid,
        OrderShipped: handlers.on_shipped,
        OrderCancelled: handlers.on_cancelled,
        CustomerRegistered: handlers.on_customer,
        CustomerRenamed: handlers.on_customer,
        CustomerEmailChanged: handlers.on_customer,
        ProductCreated: handlers.on_product,
        ProductDetailsChanged: handlers.on_product,
    },
    folds={
        OrderPlaced: folds.fold_placed,
        OrderPaid: folds.fold_paid,
        OrderShipped: folds.fold_shipped,
        OrderCancelled: folds.fold_cancelled,
        CustomerRegistered: folds.fold_customer,
        CustomerRenamed: folds.fold_customer,
        CustomerEmailChanged: folds.fold_customer,
        ProductCreated: folds.fold_product,
        ProductDetailsChanged: folds.fold_product,
    },
)
