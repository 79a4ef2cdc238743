"""The ``orders`` read model: each order with its customer's and products' current names.

Order, customer and product events come on different topics in any relative order, so
the projection keeps what it knows of customers and products in its own tables, and
the query joins them: the rows converge whatever arrives first, and a later rename or
retitle shows on every order. Unit prices stay as snapshotted when the order was placed.
"""

from __future__ import annotations

from contracts.events import (
    CustomerEmailChanged,
    CustomerErased,
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
from projections.projection import read_model

ORDERS = read_model(
    "orders",
    tables=TABLES,
    ddl=DDL,
    # Each event type once: its handler (SQL, the live path) beside its fold (rows in
    # memory, rebuilds); tests/integration/test_bulk_fold.py holds them to one meaning.
    # An order keeps the price and title it was placed with, and shows no stock.
    ignored=frozenset(
        {
            "ProductArchived",
            "ProductPriceChanged",
            "ProductPublished",
            "StockAdjusted",
            "StockCommitted",
            "StockReleased",
            "StockReserved",
        }
    ),
    effects={
        OrderPlaced: (handlers.on_placed, folds.fold_placed),
        OrderPaid: (handlers.on_paid, folds.fold_paid),
        OrderShipped: (handlers.on_shipped, folds.fold_shipped),
        OrderCancelled: (handlers.on_cancelled, folds.fold_cancelled),
        CustomerRegistered: (handlers.on_customer, folds.fold_customer),
        CustomerRenamed: (handlers.on_customer, folds.fold_customer),
        CustomerEmailChanged: (handlers.on_customer, folds.fold_customer),
        # Forgotten: the name and address read "erased" on their orders; lines stay.
        CustomerErased: (handlers.on_customer, folds.fold_customer),
        ProductCreated: (handlers.on_product, folds.fold_product),
        ProductDetailsChanged: (handlers.on_product, folds.fold_product),
    },
)
