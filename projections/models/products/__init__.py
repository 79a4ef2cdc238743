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
from projections.projection import Projection

PRODUCTS = Projection(
    "products",
    tables=TABLES,
    ddl=DDL,
    # Each event changes only its product's row (projections/live/batch_fold.py).
    row_local=True,
    handlers={
        ProductCreated: handlers.on_created,
        StockAdjusted: handlers.on_stock_adjusted,
        ProductDetailsChanged: handlers.on_details,
        ProductPriceChanged: handlers.on_price,
        ProductPublished: handlers.on_published,
        ProductArchived: handlers.on_archived,
        StockReserved: handlers.on_reserved,
        StockReleased: handlers.on_released,
        StockCommitted: handlers.on_committed,
    },
    folds={
        ProductCreated: folds.fold_created,
        StockAdjusted: folds.fold_stock_adjusted,
        ProductDetailsChanged: folds.fold_details,
        ProductPriceChanged: folds.fold_price,
        ProductPublished: folds.fold_published,
        ProductArchived: folds.fold_archived,
        StockReserved: folds.fold_reserved,
        StockReleased: folds.fold_released,
        StockCommitted: folds.fold_committed,
    },
)
