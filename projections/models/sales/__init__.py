"""The ``sales`` read model: per UTC day, orders placed and paid, revenue and refunds."""

from __future__ import annotations

from contracts.events import (
    OrderCancelled,
    OrderPaid,
    OrderPlaced,
)
from projections.models.sales import folds, handlers
from projections.models.sales.tables import DDL, TABLES
from projections.projection import read_model

SALES = read_model(
    "sales",
    tables=TABLES,
    ddl=DDL,
    # Each event type once: its handler (SQL, the live path) beside its fold (rows in
    # memory, rebuilds); tests/integration/test_bulk_fold.py holds them to one meaning.
    # Sales count placing, paying and refunds; a shipment changes none of them.
    ignored=frozenset({"OrderShipped"}),
    effects={
        OrderPlaced: (handlers.on_placed, folds.fold_placed),
        OrderPaid: (handlers.on_paid, folds.fold_paid),
        OrderCancelled: (handlers.on_cancelled, folds.fold_cancelled),
    },
)
