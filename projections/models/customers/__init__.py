"""The ``customers`` read model: profile, role and order statistics."""

from __future__ import annotations

from contracts.events import (
    CustomerEmailChanged,
    CustomerRegistered,
    CustomerRenamed,
    OrderCancelled,
    OrderPaid,
    OrderPlaced,
)
from projections.models.customers import folds, handlers
from projections.models.customers.tables import DDL, TABLES
from projections.projection import Projection

CUSTOMERS = Projection(
    "customers",
    tables=TABLES,
    ddl=DDL,
    handlers={
        CustomerRegistered: handlers.on_registered,
        CustomerRenamed: handlers.on_renamed,
        CustomerEmailChanged: handlers.on_email_changed,
        OrderPlaced: handlers.on_order_placed,
        OrderPaid: handlers.on_order_paid,
        OrderCancelled: handlers.on_order_cancelled,
    },
    folds={
        CustomerRegistered: folds.fold_registered,
        CustomerRenamed: folds.fold_renamed,
        CustomerEmailChanged: folds.fold_email_changed,
        OrderPlaced: folds.fold_order_placed,
        OrderPaid: folds.fold_order_paid,
        OrderCancelled: folds.fold_order_cancelled,
    },
)
