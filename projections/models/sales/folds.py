"""The ``sales`` read model's folds: the handlers' effects on in-memory rows, one
function per event type, for rebuilds (:mod:`projections.rebuild.bulk`)."""

from __future__ import annotations

from datetime import date

from contracts.envelope import Envelope
from contracts.events import OrderCancelled, OrderPaid, OrderPlaced
from projections.memory_rows import Rows


def _fold(rows: Rows, day: date, column: str, amount: int) -> None:
    row = rows.edit("sales_by_day", day)
    if row is None:
        row = {"day": day, "orders_placed": 0, "orders_paid": 0, "revenue": 0, "refunded": 0}
        rows.insert("sales_by_day", row)
    row[column] += amount


def fold_placed(rows: Rows, env: Envelope, e: OrderPlaced) -> None:
    _fold(rows, e.occurred_at.date(), "orders_placed", 1)


def fold_paid(rows: Rows, env: Envelope, e: OrderPaid) -> None:
    _fold(rows, e.occurred_at.date(), "orders_paid", 1)
    _fold(rows, e.occurred_at.date(), "revenue", e.amount)


def fold_cancelled(rows: Rows, env: Envelope, e: OrderCancelled) -> None:
    if e.refunded:
        _fold(rows, e.occurred_at.date(), "refunded", e.refunded)
