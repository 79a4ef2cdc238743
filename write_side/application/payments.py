"""Payment commands: pay an order through the gateway, settle an unknown outcome."""

from __future__ import annotations

from typing import TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from write_side.application.base import ShopBase, use_case
from write_side.application.types import (
    MAX_ATTEMPTS,
    NO_CONTEXT,
    CommandContext,
    CommandResult,
    ConcurrencyConflictError,
    PaymentDeclinedError,
    PaymentGatewayFailedError,
    PaymentPendingError,
)
from write_side.domain.errors import (
    InvalidTransitionError,
)
from write_side.domain.order import Order
from write_side.domain.payment import Payment
from write_side.gateway.breaker import GatewayUnavailableError
from write_side.gateway.port import (
    GatewayError,
    GatewayTimeoutError,
)

A = TypeVar("A", bound=Aggregate)


class PaymentCommands(ShopBase):
    @use_case()
    def pay_order(
        self, order_id: UUID, *, token: str, ctx: CommandContext = NO_CONTEXT
    ) -> CommandResult:
        """Record the attempt, capture with a stable key, then mark the order paid.

        A crash or timeout after the gateway captured leaves the payment ``started``;
        paying again asks the gateway with the same key, learns it captured, and
        completes the order: money is never captured without the order knowing.
        """
        order = self._get(Order, order_id, ctx.expected_version, ctx.acting_for)
        if order.status != "placed":
            raise InvalidTransitionError("order", order.status, "pay")
        payment = self._start_payment(order, token)
        if payment.status == "started":
            self._capture(payment)
        return self._finish_payment(order, payment, ctx)

    def settle_payment(self, payment_id: UUID) -> str:
        """Settle a payment left ``started`` (a timeout or crash nobody retried).

        Asks the gateway again with the same key and records what it says: the order
        becomes paid, or the capture is refunded if the order was cancelled meanwhile.
        Returns the payment's status afterwards (still ``started`` if the gateway is
        silent again).
        """
        payment = self._get(Payment, payment_id)
        if payment.status != "started":
            return str(payment.status)
        try:
            self._capture(payment)
            self._finish_payment(self._get(Order, payment.order_id), payment, NO_CONTEXT)
        except (
            PaymentPendingError,
            PaymentDeclinedError,
            PaymentGatewayFailedError,
            GatewayUnavailableError,
        ):
            pass
        except InvalidTransitionError:
            pass  # the order was cancelled: _finish_payment refunded the capture
        return str(self._get(Payment, payment_id).status)

    def _capture(self, payment: Payment) -> None:
        """Ask the gateway to capture; a decline or gateway error is recorded, then raised."""
        try:
            result = self.gateway.capture(
                key=payment.gateway_key, amount=payment.amount, token=payment.token
            )
        except GatewayTimeoutError as error:
            raise PaymentPendingError(str(error)) from error
        except GatewayError as error:
            payment.fail(str(error))
            self._save(payment, subject=payment)
            raise PaymentGatewayFailedError(str(error)) from error
        if result.outcome == "declined":
            payment.decline(result.reason)
            self._save(payment, subject=payment)
            raise PaymentDeclinedError(result.reason)
        payment.capture()

    def _finish_payment(self, order: Order, payment: Payment, ctx: CommandContext) -> CommandResult:
        """Record the capture on both aggregates; if the order was cancelled meanwhile, refund."""
        for _ in range(MAX_ATTEMPTS):
            if order.status == "cancelled":
                self.gateway.refund(key=payment.gateway_key, amount=payment.amount)
                if payment.status == "started":
                    payment.capture()
                payment.refund()
                self._save(payment, subject=payment)
                raise InvalidTransitionError("order", "cancelled", "pay")
            order.pay(payment.id, payment.amount)
            try:
                return self._save(order, payment, subject=order, ctx=ctx)
            except ConcurrencyConflictError:
                captured = payment.status == "captured"
                order = self._get(Order, order.id)
                payment = self._get(Payment, payment.id)
                if captured and payment.status == "started":
                    payment.capture()  # the gateway said yes; only our record of it was lost
                if order.status not in ("placed", "cancelled"):
                    raise InvalidTransitionError("order", order.status, "pay") from None
        raise ConcurrencyConflictError("the order kept changing while it was being paid")

    def _start_payment(self, order: Order, token: str) -> Payment:
        """The order's payment, recorded (and committed) before any call to the gateway."""
        payment = self._find(Payment, Payment.create_id(order.id))
        if payment is None:
            payment = Payment(order_id=order.id, amount=order.total, token=token)
        elif payment.status in ("declined", "failed"):
            payment.restart(token)
        else:
            return payment  # started (outcome unknown) or captured: finish that attempt
        try:
            self._save(payment, subject=payment)
        except ConcurrencyConflictError:
            return self._get(Payment, payment.id)  # a concurrent request recorded it first
        return payment
