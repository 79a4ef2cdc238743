"""The ``products`` read model's folds: the handlers' effects on in-memory rows, one
function per event type, for rebuilds (:mod:`projections.rebuild.bulk`)."""

from __future__ import annotations

from contracts.envelope import Envelope
from contracts.events import (
    ContractEvent,
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
from projections.memory_rows import Row, Rows
from projections.models.row_versions import fold_row


def fold_created(rows: Rows, env: Envelope, e: ProductCreated) -> None:
    rows.insert(
        "products",
        {
            "id": env.aggregate_id,
            "sku": e.sku,
            "title": e.title,
            "description": e.description,
            "categories": list(e.categories),
            "category_words": " ".join(e.categories),
            "price": e.price,
            "status": "draft",
            "on_hand": 0,
            "reserved": 0,
            "units_sold": 0,
            "version": env.aggregate_version,
            "created_at": e.occurred_at,
            "updated_at": e.occurred_at,
        },
    )


def _fold(rows: Rows, env: Envelope, e: ContractEvent, **changes: object) -> Row | None:
    return fold_row(rows, "products", env, **changes, updated_at=e.occurred_at)


def fold_stock_adjusted(rows: Rows, env: Envelope, e: StockAdjusted) -> None:
    if (row := _fold(rows, env, e)) is not None:
        row["on_hand"] += e.delta


def fold_details(rows: Rows, env: Envelope, e: ProductDetailsChanged) -> None:
    _fold(
        rows,
        env,
        e,
        title=e.title,
        description=e.description,
        categories=list(e.categories),
        category_words=" ".join(e.categories),
    )


def fold_price(rows: Rows, env: Envelope, e: ProductPriceChanged) -> None:
    _fold(rows, env, e, price=e.price)


def fold_published(rows: Rows, env: Envelope, e: ProductPublished) -> None:
    _fold(rows, env, e, status="published")


def fold_archived(rows: Rows, env: Envelope, e: ProductArchived) -> None:
    _fold(rows, env, e, status="archived")


def fold_reserved(rows: Rows, env: Envelope, e: StockReserved) -> None:
    if (row := _fold(rows, env, e)) is not None:
        row["reserved"] += e.quantity


def fold_released(rows: Rows, env: Envelope, e: StockReleased) -> None:
    if (row := _fold(rows, env, e)) is not None:
        row["reserved"] -= e.quantity


def fold_committed(rows: Rows, env: Envelope, e: StockCommitted) -> None:
    if (row := _fold(rows, env, e)) is not None:
        row["reserved"] -= e.quantity
        row["on_hand"] -= e.quantity
        row["units_sold"] += e.quantity
