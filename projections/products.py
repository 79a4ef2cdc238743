"""The ``products`` read model: catalog fields, status and stock."""

from __future__ import annotations

from typing import Any

from psycopg import Cursor, sql

from contracts.envelope import Envelope
from contracts.events import ProductCreated, StockAdjusted
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


def on_stock_adjusted(cur: Cursor[Any], schema: str, env: Envelope, e: StockAdjusted) -> None:
    # The version guard makes a replayed event a no-op even past the position check.
    cur.execute(
        sql.SQL(
            "UPDATE {}.products SET on_hand = on_hand + %s, version = %s, updated_at = %s"
            " WHERE id = %s AND version < %s"
        ).format(sql.Identifier(schema)),
        (e.delta, env.aggregate_version, e.occurred_at, env.aggregate_id, env.aggregate_version),
    )


PRODUCTS = Projection("products", {ProductCreated: on_created, StockAdjusted: on_stock_adjusted})
