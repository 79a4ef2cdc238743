"""The ``products`` read model's SQL handlers: one function per event type (the live
path, :mod:`projections.live.applier`)."""

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
from projections.models.row_versions import update_row


def on_created(cur: Cursor[Any], schema: str, env: Envelope, e: ProductCreated) -> None:
    cur.execute(
        sql.SQL(
            "INSERT INTO {}.products (id, sku, title, description, categories, category_words,"
            " price, status, version, created_at, updated_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, 'draft', %s, %s, %s)"
            " ON CONFLICT (id) DO NOTHING"
        ).format(sql.Identifier(schema)),
        (
            env.aggregate_id,
            e.sku,
            e.title,
            e.description,
            list(e.categories),
            " ".join(e.categories),
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
    update_row(cur, schema, "products", env, assignments, *params, touched_at=e.occurred_at)


def on_stock_adjusted(cur: Cursor[Any], schema: str, env: Envelope, e: StockAdjusted) -> None:
    _update(cur, schema, env, e, "on_hand = on_hand + %s", e.delta)


def on_details(cur: Cursor[Any], schema: str, env: Envelope, e: ProductDetailsChanged) -> None:
    _update(
        cur,
        schema,
        env,
        e,
        "title = %s, description = %s, categories = %s, category_words = %s",
        e.title,
        e.description,
        list(e.categories),
        " ".join(e.categories),
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
