"""The ``customers`` read model: profile, role and order statistics."""

from __future__ import annotations

from contracts.events import (
    CustomerEmailChanged,
    CustomerErased,
    CustomerRegistered,
    CustomerRenamed,
    OrderCancelled,
    OrderPaid,
    OrderPlaced,
)
from projections.models.customers import folds, handlers
from projections.models.customers.tables import DDL, TABLES
from projections.projection import read_model

CUSTOMERS = read_model(
    "customers",
    tables=TABLES,
    ddl=DDL,
    # Each event type once: its handler (SQL, the live path) beside its fold (rows in
    # memory, rebuilds); tests/integration/test_bulk_fold.py holds them to one meaning.
    # A shipment changes no customer figure.
    ignored=frozenset({"OrderShipped"}),
    effects={
        CustomerRegistered: (handlers.on_registered, folds.fold_registered),
        CustomerRenamed: (handlers.on_renamed, folds.fold_renamed),
        CustomerEmailChanged: (handlers.on_email_changed, folds.fold_email_changed),
        CustomerErased: (handlers.on_erased, folds.fold_erased),
        OrderPlaced: (handlers.on_order_placed, folds.fold_order_placed),
        OrderPaid: (handlers.on_order_paid, folds.fold_order_paid),
        OrderCancelled: (handlers.on_order_cancelled, folds.fold_order_cancelled),
    },
    shared_rows=handlers.lock_order_stats,
)
