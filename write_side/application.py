"""Application services: one method per command, each get → mutate → save.

A method returns a :class:`CommandResult`: the aggregate's id and version and the
consistency token of the events it appended.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, Mapper, StoredEvent

from contracts.consistency import PartitionMark, aggregate_tag, encode_token
from contracts.topics import partition_for, topic_for
from contracts.upcasting import EVENTS_BY_NAME, parse_topic
from write_side.contract_mapping import ContractMapper
from write_side.domain.claims import Credentials, EmailClaim, SkuClaim, normalize_email
from write_side.domain.customer import Customer
from write_side.domain.errors import (
    EmailTakenError,
    InsufficientStockError,
    InvalidTransitionError,
    InvalidValueError,
    NotPurchasableError,
    SkuTakenError,
)
from write_side.domain.order import Order, OrderLine
from write_side.domain.payment import Payment
from write_side.domain.product import Product
from write_side.idempotency import (
    IdempotencyKey,
    IdempotentPostgresRecorder,
    PendingKey,
    RepeatedKeyError,
)
from write_side.payments import (
    FakePaymentGateway,
    GatewayError,
    GatewayTimeoutError,
    PaymentGateway,
)
from write_side.security import Argon2Passwords

A = TypeVar("A", bound=Aggregate)


class NotFoundError(LookupError):
    def __init__(self, kind: str, aggregate_id: UUID) -> None:
        super().__init__(f"{kind} {aggregate_id} not found")
        self.kind = kind
        self.aggregate_id = aggregate_id


class ConcurrencyConflictError(Exception):
    """Another command changed the aggregate first; the client may retry."""


class InvalidCredentialsError(Exception):
    """Unknown email or wrong password (deliberately indistinguishable)."""


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str | None, password: str) -> bool: ...


MIN_PASSWORD_LENGTH = 8
#: Placing or shipping touches several products; under contention on a hot product the
#: whole command is retried this many times before answering 409.
MAX_ATTEMPTS = 40


@dataclass(frozen=True)
class LineRequest:
    product_id: UUID
    quantity: int


class OutOfStockError(Exception):
    """Some lines cannot be reserved; nothing was."""

    def __init__(self, lines: list[dict[str, Any]]) -> None:
        super().__init__("not enough stock for: " + ", ".join(str(x["product_id"]) for x in lines))
        self.lines = lines


class PaymentDeclinedError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PaymentPendingError(Exception):
    """The gateway did not answer; the outcome is unknown until the payment is retried."""


class PaymentGatewayFailedError(Exception):
    """The gateway reported an error; nothing was captured; retry, maybe with another token."""


class PreconditionFailedError(Exception):
    """The client's ``If-Match`` version is not the aggregate's current version."""

    def __init__(self, expected: int, current: int) -> None:
        super().__init__(f"expected version {expected}, current version is {current}")
        self.expected = expected
        self.current = current


@dataclass(frozen=True)
class CommandContext:
    """What a client says about a command besides its arguments."""

    idempotency: IdempotencyKey | None = None
    #: From ``If-Match``: act only if the aggregate is still at this version.
    expected_version: int | None = None


NO_CONTEXT = CommandContext()


@dataclass(frozen=True)
class CommandResult:
    id: UUID
    version: int
    consistency_token: str

    def as_json(self) -> dict[str, Any]:
        return {"id": str(self.id), "version": self.version, "token": self.consistency_token}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CommandResult:
        return cls(UUID(data["id"]), int(data["version"]), str(data["token"]))


class Shop(Application[UUID]):
    """The commerce write model. Its one notification log is the relay's outbox."""

    name = "Shop"

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        topic_prefix: str = "",
        token_key: bytes = b"",
        passwords: PasswordHasher | None = None,
        gateway: PaymentGateway | None = None,
    ) -> None:
        self.topic_prefix = topic_prefix
        #: Signs consistency tokens (``contracts.consistency.token_key`` of the server secret).
        self.token_key = token_key
        self.passwords: PasswordHasher = passwords or Argon2Passwords()
        self.gateway: PaymentGateway = gateway or FakePaymentGateway()
        #: Commands re-run after losing a race (read by benchmarks and operators).
        self.contention_retries = 0
        super().__init__(env)

    def construct_mapper(self) -> Mapper[UUID]:
        return ContractMapper(transcoder=self.factory.transcoder())

    def idempotent(self, ctx: CommandContext, run: Callable[[], CommandResult]) -> CommandResult:
        """Run a command once per idempotency key: a repeat gets the first result back.

        Raises :class:`IdempotencyKeyReusedError` when the key came with another request.
        (Keys are kept by the PostgreSQL recorder; in-memory stores run every command.)
        """
        recorder = self.recorder
        if ctx.idempotency is None or not isinstance(recorder, IdempotentPostgresRecorder):
            return run()
        found = recorder.find_result(ctx.idempotency)
        if found is not None:
            return CommandResult.from_json(found)
        try:
            return run()
        except RepeatedKeyError:
            found = recorder.find_result(ctx.idempotency)
            assert found is not None, "the winner's row commits before we see the conflict"
            return CommandResult.from_json(found)

    # Customers

    def register_customer(
        self,
        *,
        email: str,
        name: str,
        password: str,
        role: str = "customer",
        ctx: CommandContext = NO_CONTEXT,
    ) -> CommandResult:
        customer = Customer.register(email=email, name=name, role=role)
        if len(password) < MIN_PASSWORD_LENGTH:
            raise InvalidValueError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
        claim = self._claim_email(customer.email, customer.id)
        credentials = Credentials(
            customer_id=customer.id, password_hash=self.passwords.hash(password)
        )
        try:
            return self._save(customer, claim, credentials, subject=customer, ctx=ctx)
        except ConcurrencyConflictError as error:
            # The customer's id is fresh, so only the claim can have collided.
            raise EmailTakenError(customer.email) from error

    def authenticate(self, *, email: str, password: str) -> Customer:
        """The customer with these credentials; the same error for any mismatch."""
        claim = self._find(EmailClaim, EmailClaim.create_id(email))
        customer_id = claim.customer_id if claim else None
        credentials = (
            self._find(Credentials, Credentials.create_id(customer_id)) if customer_id else None
        )
        # Verify even for an unknown email (against a decoy hash): both cost the same, so
        # timing does not tell which emails are registered.
        matches = self.passwords.verify(
            credentials.password_hash if credentials else None, password
        )
        if customer_id is None or not matches:
            raise InvalidCredentialsError
        return self.get_customer(customer_id)

    def change_customer(
        self,
        customer_id: UUID,
        *,
        name: str | None = None,
        email: str | None = None,
        ctx: CommandContext = NO_CONTEXT,
    ) -> CommandResult:
        customer = self._get(Customer, customer_id, ctx.expected_version)
        changed: list[Aggregate] = [customer]
        if name is not None:
            customer.rename(name)
        if email is not None and normalize_email(email) != customer.email:
            new_claim = self._claim_email(email, customer.id)
            old_claim = self._get(EmailClaim, EmailClaim.create_id(customer.email))
            old_claim.release()
            customer.change_email(email)
            changed += [new_claim, old_claim]
        try:
            return self._save(*changed, subject=customer, ctx=ctx)
        except ConcurrencyConflictError:
            if email is not None and self._email_held_by_other(email, customer_id):
                raise EmailTakenError(normalize_email(email)) from None
            raise

    def _claim_email(self, email: str, customer_id: UUID) -> EmailClaim:
        claim = self._find(EmailClaim, EmailClaim.create_id(email))
        if claim is None:
            return EmailClaim(email=normalize_email(email), customer_id=customer_id)
        claim.reclaim(customer_id)  # EmailTakenError while someone holds it
        return claim

    def _email_held_by_other(self, email: str, customer_id: UUID) -> bool:
        claim = self._find(EmailClaim, EmailClaim.create_id(email))
        return claim is not None and claim.customer_id not in (None, customer_id)

    # Catalog and inventory

    def create_product(
        self,
        *,
        sku: str,
        title: str,
        price: int,
        description: str = "",
        category: str = "",
        ctx: CommandContext = NO_CONTEXT,
    ) -> CommandResult:
        product = Product.create(
            sku=sku, title=title, price=price, description=description, category=category
        )
        claim = SkuClaim(sku=product.sku, product_id=product.id)
        if claim.id in self.repository:
            raise SkuTakenError(product.sku)
        try:
            return self._save(product, claim, subject=product, ctx=ctx)
        except ConcurrencyConflictError as error:
            raise SkuTakenError(product.sku) from error

    def adjust_stock(
        self, product_id: UUID, *, delta: int, reason: str = "", ctx: CommandContext = NO_CONTEXT
    ) -> CommandResult:
        product = self._get(Product, product_id, ctx.expected_version)
        product.adjust_stock(delta, reason)
        return self._save(product, subject=product, ctx=ctx)

    def change_product(
        self,
        product_id: UUID,
        *,
        title: str | None = None,
        description: str | None = None,
        category: str | None = None,
        price: int | None = None,
        ctx: CommandContext = NO_CONTEXT,
    ) -> CommandResult:
        product = self._get(Product, product_id, ctx.expected_version)
        product.change_details(title=title, description=description, category=category)
        if price is not None:
            product.change_price(price)
        return self._save(product, subject=product, ctx=ctx)

    def publish_product(
        self, product_id: UUID, *, ctx: CommandContext = NO_CONTEXT
    ) -> CommandResult:
        product = self._get(Product, product_id, ctx.expected_version)
        product.publish()
        return self._save(product, subject=product, ctx=ctx)

    def archive_product(
        self, product_id: UUID, *, ctx: CommandContext = NO_CONTEXT
    ) -> CommandResult:
        product = self._get(Product, product_id, ctx.expected_version)
        product.archive()
        return self._save(product, subject=product, ctx=ctx)

    # Orders

    def place_order(
        self, customer_id: UUID, lines: list[LineRequest], *, ctx: CommandContext = NO_CONTEXT
    ) -> CommandResult:
        """Reserve stock for every line and place the order in one atomic write, or fail whole."""
        return self._with_retries(lambda: self._place_order(customer_id, lines, ctx))

    def _place_order(
        self, customer_id: UUID, requested: list[LineRequest], ctx: CommandContext
    ) -> CommandResult:
        products = [self._get(Product, line.product_id) for line in requested]
        order = Order.place(
            customer_id=customer_id,
            lines=[
                OrderLine(p.id, p.sku, p.title, p.price, line.quantity)
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

    def ship_order(self, order_id: UUID, *, ctx: CommandContext = NO_CONTEXT) -> CommandResult:
        def ship() -> CommandResult:
            order = self._get(Order, order_id, ctx.expected_version)
            order.ship()
            products = [self._get(Product, line.product_id) for line in order.lines]
            for product in products:
                product.commit(order.id)
            return self._save(order, *products, subject=order, ctx=ctx)

        return self._with_retries(ship)

    def cancel_order(self, order_id: UUID, *, ctx: CommandContext = NO_CONTEXT) -> CommandResult:
        """Release the reservations and refund what was paid (the refund is idempotent)."""

        def cancel() -> CommandResult:
            order = self._get(Order, order_id, ctx.expected_version)
            order.cancel()
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

        return self._with_retries(cancel)

    def pay_order(
        self, order_id: UUID, *, token: str, ctx: CommandContext = NO_CONTEXT
    ) -> CommandResult:
        """Record the attempt, capture with a stable key, then mark the order paid.

        A crash or timeout after the gateway captured leaves the payment ``started``;
        paying again asks the gateway with the same key, learns it captured, and
        completes the order: money is never captured without the order knowing.
        """
        order = self._get(Order, order_id, ctx.expected_version)
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
        except (PaymentPendingError, PaymentDeclinedError, PaymentGatewayFailedError):
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

    def _with_retries(self, command: Callable[[], CommandResult]) -> CommandResult:
        for attempt in range(MAX_ATTEMPTS):
            try:
                return command()
            except ConcurrencyConflictError:
                if attempt == MAX_ATTEMPTS - 1:
                    raise
                self.contention_retries += 1
                time.sleep(random.uniform(0, 0.002 * (attempt + 1)))  # jitter apart
        raise AssertionError("unreachable")

    # Reads of the write model (for tests and invariants, not for the query API)

    def get_customer(self, customer_id: UUID) -> Customer:
        return self._get(Customer, customer_id)

    def get_product(self, product_id: UUID) -> Product:
        return self._get(Product, product_id)

    # Plumbing

    def _find(self, kind: type[A], aggregate_id: UUID) -> A | None:
        try:
            return self._get(kind, aggregate_id)
        except NotFoundError:
            return None

    def _get(self, kind: type[A], aggregate_id: UUID, expected_version: int | None = None) -> A:
        try:
            aggregate: Aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise NotFoundError(kind.__name__.lower(), aggregate_id) from None
        if not isinstance(aggregate, kind):
            raise NotFoundError(kind.__name__.lower(), aggregate_id)
        if expected_version is not None and aggregate.version != expected_version:
            raise PreconditionFailedError(expected_version, aggregate.version)
        return aggregate

    def _save(
        self, *aggregates: Aggregate, subject: Aggregate, ctx: CommandContext = NO_CONTEXT
    ) -> CommandResult:
        def result(events: Sequence[StoredEvent], ids: Sequence[int]) -> CommandResult:
            return CommandResult(subject.id, subject.version, self._token(events, ids))

        options: dict[str, Any] = {}
        if ctx.idempotency is not None and isinstance(self.recorder, IdempotentPostgresRecorder):
            options["idempotency"] = PendingKey(
                ctx.idempotency, lambda events, ids: result(events, ids).as_json()
            )
        try:
            recordings = self.save(*aggregates, **options)
        except IntegrityError as error:
            raise ConcurrencyConflictError(str(error)) from error
        notifications = [r.notification for r in recordings]
        return result(notifications, [n.id for n in notifications])

    def _token(self, events: Sequence[StoredEvent], ids: Sequence[int]) -> str:
        marks = []
        for event, notification_id in zip(events, ids, strict=True):
            contract = EVENTS_BY_NAME[parse_topic(event.topic)[0]]
            topic = topic_for(contract, self.topic_prefix)
            if topic is not None:
                partition = partition_for(event.originator_id)
                tag = aggregate_tag(event.originator_id)
                marks.append(PartitionMark(topic, partition, notification_id, (tag,)))
        return encode_token(marks, self.token_key)
