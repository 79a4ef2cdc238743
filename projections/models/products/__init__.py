"""The ``products`` read model: catalog fields, status and stock."""

from __future__ import annotations

from contracts.events import (
    ProductArchived,
    ProductCreated,
    ProductDetailsChanged,
    ProductPriceChanged,
    ProductPublished,
    StockAdjusted,
    StockCommitted,
    StockReleased,
    StockReserved,
)
from projections.models.products import folds, handlers
from projections.models.products.tables import DDL, TABLES
from projections.projection import read_model

PRODUCTS = read_model(
    "products",
    tables=TABLES,
    ddl=DDL,
    # Each event changes only its product's row (projections/live/batch_fold.py).
    row_local=True,
    # Each event type once: its handler (SQL, the live path) beside its fold (rows in
    # memory, rebuilds); tests/integration/test_bulk_fold.py holds them to one meaning.
    effects={
        ProductCreated: (handlers.on_created, folds.fold_created),
        StockAdjusted: (handlers.on_stock_adjusted, folds.fold_stock_adjusted),
        ProductDetailsChanged: (handlers.on_details, folds.fold_details),
        ProductPriceChanged: (handlers.on_price, folds.fold_price),
        ProductPublished: (handlers.on_published, folds.fold_published),
        ProductArchived: (handlers.on_archived, folds.fold_archived),
        StockReserved: (handlers.on_reserved, folds.fold_reserved),
        StockReleased: (handlers.on_released, folds.fold_released),
        StockCommitted: (handlers.on_committed, folds.fold_committed),
    },
)
