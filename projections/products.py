"""The ``products`` read model: catalog fields, status and stock."""

from __future__ import annotations

from typing import Any, LiteralString

from psycopg import Cursor, sql

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
from projections.projection import Projection


def on_created(cur: Cursor[Any], schema: str, env: Envelope, e: ProductCreated) -> None:
    cur.execute(
        sql.SQL(
            "INSERT INTO {}.products (id, sku, title, description, category, price, status,"
            " version, created_at, updated_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, 'draft', %s, %s, %s) ON CONFLICT (id) DO NOTHING"
        ).format(sql.Identifier(schema)),
        (
            env.aggregate_id,
            e.sku,
            e.title,
            e.description,
            e.category,
            e.price,
            env.aggregate_version,
            e.occurred_at,
            e.occurred_at,
        ),
    )


def _update(
    cur: Cursor[Any],
    schema: str,
    env: Envelope,
    e: ContractEvent,
    assignments: LiteralString,
    *params: object,
) -> None:
    """Apply ``assignments`` (our own SQL text, never client input) to the product's row.

    The version guard makes a replayed event a no-op even past the position check.
    """
    cur.execute(
        sql.SQL(
            "UPDATE {}.products SET {}, version = %s, updated_at = %s"
            " WHERE id = %s AND version < %s"
        ).format(sql.Identifier(schema), sql.SQL(assignments)),
        (*params, env.aggregate_version, e.occurred_at, env.aggregate_id, env.aggregate_version),
    )


def on_stock_adjusted(cur: Cursor[Any], schema: str, env: Envelope, e: StockAdjusted) -> None:
    _update(cur, schema, env, e, "on_hand = on_hand + %s", e.delta)


def on_details(cur: Cursor[Any], schema: str, env: Envelope, e: ProductDetailsChanged) -> None:
    _update(
        cur,
        schema,
        env,
        e,
        "title = %s, description = %s, category = %s",
        e.title,
        e.description,
        e.category,
    )


def on_price(cur: Cursor[Any], schema: str, env: Envelope, e: ProductPriceChanged) -> None:
    _update(cur, schema, env, e, "price = %s", e.price)


def on_published(cur: Cursor[Any], schema: str, env: Envelope, e: ProductPublished) -> None:
    _update(cur, schema, env, e, "status = 'published'")


def on_archived(cur: Cursor[Any], schema: str, env: Envelope, e: ProductArchived) -> None:
    _update(cur, schema, env, e, "status = 'archived'")


def on_reserved(cur: Cursor[Any], schema: str, env: Envelope, e: StockReserved) -> None:
    _update(cur, schema, env, e, "reserved = reserved + %s", e.quantity)


def on_released(cur: Cursor[Any], schema: str, env: Envelope, e: StockReleased) -> None:
    _update(cur, schema, env, e, "reserved = reserved - %s", e.quantity)


def on_committed(cur: Cursor[Any], schema: str, env: Envelope, e: StockCommitted) -> None:
    _update(
        cur,
        schema,
        env,
        e,
        "reserved = reserved - %s, on_hand = on_hand - %s, units_sold = units_sold + %s",
        e.quantity,
        e.quantity,
        e.quantity,
    )


# The same effects on in-memory rows, for rebuilds (projections.bulk).


def fold_created(rows: Rows, env: Envelope, e: ProductCreated) -> None:
    rows.insert(
        "products",
        {
            "id": env.aggregate_id,
            "sku": e.sku,
            "title": e.title,
            "description": e.description,
            "category": e.category,
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
    row = rows.edit("products", env.aggregate_id)
    if row is None or row["version"] >= env.aggregate_version:
        return None
    row.update(changes, version=env.aggregate_version, updated_at=e.occurred_at)
    return row


def fold_stock_adjusted(rows: Rows, env: Envelope, e: StockAdjusted) -> None:
    if (row := _fold(rows, env, e)) is not None:
        row["on_hand"] += e.delta


def fold_details(rows: Rows, env: Envelope, e: ProductDetailsChanged) -> None:
    _fold(rows, env, e, title=e.title, description=e.description, category=e.category)


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


PRODUCTS = Projection(
    "products",
    {
        ProductCreated: on_created,
        StockAdjusted: on_stock_adjusted,
        ProductDetailsChanged: on_details,
        ProductPriceChanged: on_price,
        ProductPublished: on_published,
        ProductArchived: on_archived,
        StockReserved: on_reserved,
        StockReleased: on_released,
        StockCommitted: on_committed,
    },
    folds={
        ProductCreated: fold_created,
        StockAdjusted: fold_stock_adjusted,
        ProductDetailsChanged: fold_details,
        ProductPriceChanged: fold_price,
        ProductPublished: fold_published,
        ProductArchived: fold_archived,
        StockReserved: fold_reserved,
        StockReleased: fold_released,
        StockCommitted: fold_committed,
    },
)
