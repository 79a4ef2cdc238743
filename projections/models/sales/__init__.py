"""The ``sales`` read model: per UTC day, orders placed and paid, revenue and refunds."""

from __future__ import annotations

from contracts.events import (
    OrderCancelled,
    OrderPaid,
    OrderPlaced,
)
from projections.models.sales import folds, handlers
from projections.models.sales.tables import DDL, TABLES
from projections.projection import Projection

SALES = Projection(
    "sales",
    tables=TABLES,
    ddl=DDL,
    handlers={
        OrderPlaced: handlers.on_placed,
        OrderPaid: handlers.on_paid,
        OrderCancelled: handlers.on_cancelled,
    },
    folds={
        OrderPlaced: folds.fold_placed,
        OrderPaid: folds.fold_paid,
        OrderCancelled: folds.fold_cancelled,
    },
)
