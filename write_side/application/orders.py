"""Order commands: place, ship, cancel (which releases stock and refunds)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from write_side.application.base import ShopBase, use_case
from write_side.application.types import (
    NO_CONTEXT,
    CommandContext,
    CommandResult,
    LineRequest,
    OutOfStockError,
)
from write_side.domain.customer import Customer
from write_side.domain.errors import (
    CustomerErasedError,
    InsufficientStockError,
    InvalidTransitionError,
    NotPurchasableError,
)
from write_side.domain.order import LineItem, Order
from write_side.domain.payment import Payment
from write_side.domain.product import Product


class OrderCommands(ShopBase):
    def _erased(self, customer_id: UUID) -> bool:
        """Read, not locked (aggregate_locks.py): nothing of the customer is saved here."""
        try:
            found: Aggregate = self.repository.get(customer_id)
        except AggregateNotFoundError:
            return False
        return isinstance(found, Customer) and found.erased

    # Orders

    @use_case(retries=True)
    def place_order(
        self, customer_id: UUID, lines: list[LineRequest], *, ctx: CommandContext = NO_CONTEXT
    ) -> CommandResult:
        """Reserve stock for every line and place the order in one atomic write, or fail whole."""
        return self._place_order(customer_id, lines, ctx)

    def _place_order(
        self, customer_id: UUID, requested: list[LineRequest], ctx: CommandContext
    ) -> CommandResult:
        products = [self._get(Product, line.product_id) for line in requested]
        if self._erased(customer_id):  # a token issued before the erasure
            raise CustomerErasedError(str(customer_id))
        order = Order.place(
            customer_id=customer_id,
            lines=[
                LineItem(p.id, p.sku, p.title, p.price, line.quantity)
                for p, line in zip(products, requested, strict=True)
            ],
        )
        short: list[dict[str, Any]] = []
        for product, line in zip(products, requested, strict=True):
            try:
                product.reserve(order.id, line.quantity)
            except (InsufficientStockError, NotPurchasableError):
                short.append(
                    {
                        "product_id": str(product.id),
                        "requested": line.quantity,
                        "available": product.available if product.status == "published" else 0,
                    }
                )
        if short:
            raise OutOfStockError(short)
        return self._save(order, *products, subject=order, ctx=ctx)

    def get_order(self, order_id: UUID) -> Order:
        return self._get(Order, order_id)

    def get_payment(self, payment_id: UUID) -> Payment:
        return self._get(Payment, payment_id)

    @use_case(retries=True)
    def ship_order(self, order_id: UUID, *, ctx: CommandContext = NO_CONTEXT) -> CommandResult:
        order = self._get(Order, order_id, ctx.expected_version)
        order.ship()
        products = [self._get(Product, line.product_id) for line in order.lines]
        for product in products:
            product.commit(order.id)
        return self._save(order, *products, subject=order, ctx=ctx)

    @use_case(retries=True)
    def cancel_order(self, order_id: UUID, *, ctx: CommandContext = NO_CONTEXT) -> CommandResult:
        """Release the reservations and refund what was paid (the refund is idempotent)."""
        order = self._get(Order, order_id, ctx.expected_version, ctx.acting_for)
        return self._cancel(order, "", ctx)

    @use_case(retries=True)  # a lost race is read again: paid meanwhile, nothing to do
    def expire_order(self, order_id: UUID, *, ctx: CommandContext = NO_CONTEXT) -> CommandResult:
        """Cancel an order still unpaid when its time to pay ran out (the process manager's
        command, write_side/processes/order_expiry.py). Paid, shipped or cancelled meanwhile:
        ``InvalidTransitionError`` and nothing changes. A capture racing it is refunded by
        the payment (``_finish_payment`` finds the order cancelled)."""
        order = self._get(Order, order_id, ctx.expected_version)
        if order.status != "placed":
            raise InvalidTransitionError("order", order.status, "expire")
        return self._cancel(order, "expired", ctx)

    def _cancel(self, order: Order, reason: str, ctx: CommandContext) -> CommandResult:
        order.cancel(reason)
        products = [self._get(Product, line.product_id) for line in order.lines]
        for product in products:
            product.release(order.id)
        changed: list[Aggregate] = [order, *products]
        if order.payment_id is not None:
            payment = self._get(Payment, order.payment_id)
            self.gateway.refund(key=payment.gateway_key, amount=payment.amount)
            payment.refund()
            changed.append(payment)
        return self._save(*changed, subject=order, ctx=ctx)
