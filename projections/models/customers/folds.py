"""The ``customers`` read model's folds: the handlers' effects on in-memory rows, one
function per event type, for rebuilds (:mod:`projections.rebuild.bulk`)."""

from __future__ import annotations

from contracts.envelope import Envelope
from contracts.events import (
    ContractEvent,
    CustomerEmailChanged,
    CustomerErased,
    CustomerRegistered,
    CustomerRenamed,
    OrderCancelled,
    OrderPaid,
    OrderPlaced,
)
from contracts.personal import ERASED
from projections.memory_rows import Rows
from projections.models.row_versions import fold_row


def fold_registered(rows: Rows, env: Envelope, e: CustomerRegistered) -> None:
    rows.insert(
        "customers",
        {
            "id": env.aggregate_id,
            "email": e.email,
            "name": e.name,
            "role": e.role,
            "version": env.aggregate_version,
            "registered_at": e.occurred_at,
            "updated_at": e.occurred_at,
        },
    )


def _fold(rows: Rows, env: Envelope, e: ContractEvent, column: str, value: str) -> None:
    fold_row(rows, "customers", env, **{column: value}, updated_at=e.occurred_at)


def fold_renamed(rows: Rows, env: Envelope, e: CustomerRenamed) -> None:
    _fold(rows, env, e, "name", e.name)


def fold_email_changed(rows: Rows, env: Envelope, e: CustomerEmailChanged) -> None:
    _fold(rows, env, e, "email", e.email)


def fold_erased(rows: Rows, env: Envelope, e: CustomerErased) -> None:
    fold_row(rows, "customers", env, email=ERASED, name=ERASED, updated_at=e.occurred_at)


def fold_order_placed(rows: Rows, env: Envelope, e: OrderPlaced) -> None:
    rows.insert("customer_orders", {"order_id": env.aggregate_id, "customer_id": e.customer_id})
    stats = rows.edit("customer_order_stats", e.customer_id)
    if stats is None:
        rows.insert(
            "customer_order_stats",
            {
                "customer_id": e.customer_id,
                "order_count": 1,
                "lifetime_value": 0,
                "last_order_at": e.occurred_at,
            },
        )
        return
    stats["order_count"] += 1
    last = stats["last_order_at"]  # greatest() ignores NULL
    stats["last_order_at"] = e.occurred_at if last is None else max(last, e.occurred_at)


def _fold_value(rows: Rows, env: Envelope, amount: int) -> None:
    order = rows.find("customer_orders", env.aggregate_id)
    stats = rows.edit("customer_order_stats", order["customer_id"]) if order else None
    if stats is not None:
        stats["lifetime_value"] += amount


def fold_order_paid(rows: Rows, env: Envelope, e: OrderPaid) -> None:
    _fold_value(rows, env, e.amount)


def fold_order_cancelled(rows: Rows, env: Envelope, e: OrderCancelled) -> None:
    if e.refunded:
        _fold_value(rows, env, -e.refunded)
