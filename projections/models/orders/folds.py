"""The ``orders`` read model's folds: the handlers' effects on in-memory rows, one
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
    OrderShipped,
    ProductCreated,
    ProductDetailsChanged,
)
from contracts.personal import ERASED
from projections.memory_rows import Row, Rows
from projections.models.row_versions import fold_row


def fold_placed(rows: Rows, env: Envelope, e: OrderPlaced) -> None:
    rows.insert(
        "orders",
        {
            "id": env.aggregate_id,
            "customer_id": e.customer_id,
            "status": "placed",
            "total": e.total,
            "payment_status": "unpaid",
            "paid_amount": 0,
            "refunded": 0,
            "placed_at": e.occurred_at,
            "paid_at": None,
            "shipped_at": None,
            "cancelled_at": None,
            "cancel_reason": "",
            "version": env.aggregate_version,
        },
    )
    for n, line in enumerate(e.lines):
        rows.insert(
            "order_lines",
            {
                "order_id": env.aggregate_id,
                "position": n,
                "product_id": line.product_id,
                "sku": line.sku,
                "title": line.title,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
            },
        )


def _fold_order(rows: Rows, env: Envelope) -> Row | None:
    return fold_row(rows, "orders", env)


def fold_paid(rows: Rows, env: Envelope, e: OrderPaid) -> None:
    if (row := _fold_order(rows, env)) is not None:
        row.update(
            status="paid", payment_status="paid", paid_amount=e.amount, paid_at=e.occurred_at
        )


def fold_shipped(rows: Rows, env: Envelope, e: OrderShipped) -> None:
    if (row := _fold_order(rows, env)) is not None:
        row.update(status="shipped", shipped_at=e.occurred_at)


def fold_cancelled(rows: Rows, env: Envelope, e: OrderCancelled) -> None:
    if (row := _fold_order(rows, env)) is not None:
        row.update(
            status="cancelled",
            cancelled_at=e.occurred_at,
            refunded=e.refunded,
            cancel_reason=e.reason,
        )
        if e.refunded > 0:
            row["payment_status"] = "refunded"


def _fold_known(rows: Rows, env: Envelope, table: str, key: str, **values: object) -> None:
    """Insert or update a customer or product we know of; older versions never win."""
    row = rows.edit(table, env.aggregate_id)
    if row is None:
        rows.insert(table, {key: env.aggregate_id, **values, "version": env.aggregate_version})
    elif row["version"] < env.aggregate_version:
        row.update(values, version=env.aggregate_version)


def _fold_update_known(rows: Rows, env: Envelope, table: str, **values: object) -> None:
    row = rows.edit(table, env.aggregate_id)
    if row is not None and row["version"] < env.aggregate_version:
        row.update(values, version=env.aggregate_version)


def fold_customer(rows: Rows, env: Envelope, e: ContractEvent) -> None:
    table = "order_customers"
    if isinstance(e, CustomerRegistered):
        _fold_known(rows, env, table, "customer_id", name=e.name, email=e.email)
    elif isinstance(e, CustomerRenamed):
        _fold_update_known(rows, env, table, name=e.name)
    elif isinstance(e, CustomerEmailChanged):
        _fold_update_known(rows, env, table, email=e.email)
    elif isinstance(e, CustomerErased):
        _fold_known(rows, env, table, "customer_id", name=ERASED, email=ERASED)


def fold_product(rows: Rows, env: Envelope, e: ContractEvent) -> None:
    table = "order_products"
    if isinstance(e, ProductCreated):
        _fold_known(rows, env, table, "product_id", sku=e.sku, title=e.title)
    elif isinstance(e, ProductDetailsChanged):
        _fold_update_known(rows, env, table, title=e.title)
