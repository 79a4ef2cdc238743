"""Hypothesis state machines: each aggregate against a simple model, step by step.

After every step the aggregate equals the model, the rules hold, and replaying the
aggregate's own stored events (through the contract mapper) rebuilds the same state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from write_side.application.passwords import Argon2Passwords, HashCost
from write_side.application.shop import Shop
from write_side.domain.errors import (
    DomainError,
    InsufficientStockError,
    InvalidTransitionError,
    NotPurchasableError,
)
from write_side.domain.order import LineItem, Order
from write_side.domain.payment import Payment
from write_side.domain.product import Product

SETTINGS = settings(max_examples=40, stateful_step_count=30, deadline=None)


def replayed(shop: Shop, aggregate: Any) -> Any:
    """Save pending events, then rebuild the aggregate from the store alone."""
    shop.save(aggregate)
    return shop.repository.get(aggregate.id)


def state_of(aggregate: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


class ProductMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.shop = Shop(passwords=Argon2Passwords(HashCost(1, 8, 1)))
        self.product = Product.create(sku="sku-1", title="Lamp", price=100)
        self.model: dict[str, Any] = {"status": "draft", "on_hand": 0, "reserved": {}}

    @rule(delta=st.integers(-20, 20).filter(bool))
    def adjust(self, delta: int) -> None:
        reserved = sum(self.model["reserved"].values())
        if self.model["on_hand"] + delta < reserved:
            try:
                self.product.adjust_stock(delta)
            except InsufficientStockError:
                return
            raise AssertionError("stock went below what is reserved")
        self.product.adjust_stock(delta)
        self.model["on_hand"] += delta

    @rule()
    def publish(self) -> None:
        if self.model["status"] == "draft":
            self.product.publish()
            self.model["status"] = "published"
        else:
            self._refused(self.product.publish)

    @rule()
    def archive(self) -> None:
        if self.model["status"] != "archived":
            self.product.archive()
            self.model["status"] = "archived"
        else:
            self._refused(self.product.archive)

    @rule(quantity=st.integers(1, 10))
    def reserve(self, quantity: int) -> None:
        order_id = uuid4()
        available = self.model["on_hand"] - sum(self.model["reserved"].values())
        if self.model["status"] != "published" or quantity > available:
            self._refused(lambda: self.product.reserve(order_id, quantity))
            return
        self.product.reserve(order_id, quantity)
        self.model["reserved"][order_id] = quantity

    @precondition(lambda self: self.model["reserved"])
    @rule(data=st.data(), ship=st.booleans())
    def settle(self, data: st.DataObject, ship: bool) -> None:
        # Insertion order, not sorted random ids: reproducible draws.
        order_id = data.draw(st.sampled_from(list(self.model["reserved"])))
        quantity = self.model["reserved"].pop(order_id)
        if ship:
            self.product.commit(order_id)
            self.model["on_hand"] -= quantity
        else:
            self.product.release(order_id)

    @rule(price=st.integers(0, 10**6))
    def change_price(self, price: int) -> None:
        self.product.change_price(price)

    def _refused(self, action: Any) -> None:
        try:
            action()
        except (InvalidTransitionError, InsufficientStockError, NotPurchasableError):
            return
        raise AssertionError("an illegal step was allowed")

    @invariant()
    def matches_the_model_and_the_rules(self) -> None:
        p = self.product
        assert (p.status, p.on_hand, p.reserved) == (
            self.model["status"],
            self.model["on_hand"],
            self.model["reserved"],
        )
        assert p.on_hand >= 0
        assert 0 <= p.reserved_total <= p.on_hand

    @invariant()
    def replays_to_the_same_state(self) -> None:
        assert state_of(replayed(self.shop, self.product)) == state_of(self.product)


TRANSITIONS = {
    "pay": {"placed": "paid"},
    "ship": {"paid": "shipped"},
    "cancel": {"placed": "cancelled", "paid": "cancelled"},
}


class OrderMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.shop = Shop(passwords=Argon2Passwords(HashCost(1, 8, 1)))
        lines = [LineItem(uuid4(), "S-1", "Lamp", 250, 2), LineItem(uuid4(), "S-2", "Desk", 9, 1)]
        self.order = Order.place(customer_id=uuid4(), lines=lines)
        self.status = "placed"

    @rule(action=st.sampled_from(sorted(TRANSITIONS)))
    def act(self, action: str) -> None:
        target = TRANSITIONS[action].get(self.status)
        call = {
            "pay": lambda: self.order.pay(uuid4(), self.order.total),
            "ship": self.order.ship,
            "cancel": self.order.cancel,
        }[action]
        if target is None:
            try:
                call()
            except InvalidTransitionError:
                return
            raise AssertionError(f"{action} allowed from {self.status}")
        call()
        self.status = target

    @invariant()
    def only_legal_transitions(self) -> None:
        assert self.order.status == self.status
        assert self.order.total == 2 * 250 + 9

    @invariant()
    def replays_to_the_same_state(self) -> None:
        assert state_of(replayed(self.shop, self.order)) == state_of(self.order)


PAYMENT_STEPS = {
    "capture": {"started": "captured"},
    "decline": {"started": "declined"},
    "fail": {"started": "failed"},
    "restart": {"declined": "started", "failed": "started"},
    "refund": {"captured": "refunded"},
}


class PaymentMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.shop = Shop(passwords=Argon2Passwords(HashCost(1, 8, 1)))
        self.payment = Payment(order_id=uuid4(), amount=500, token="tok_ok")
        self.status = "started"
        self.keys: set[str] = {self.payment.gateway_key}

    @rule(step=st.sampled_from(sorted(PAYMENT_STEPS)))
    def step(self, step: str) -> None:
        target = PAYMENT_STEPS[step].get(self.status)
        call: Callable[[], None] = {
            "capture": self.payment.capture,
            "decline": lambda: self.payment.decline("no"),
            "fail": lambda: self.payment.fail("err"),
            "refund": self.payment.refund,
            "restart": lambda: self.payment.restart("tok_ok"),
        }[step]
        if target is None:
            try:
                call()
            except DomainError:
                return
            raise AssertionError(f"{step} allowed from {self.status}")
        call()
        self.status = target
        if step == "restart":
            assert self.payment.gateway_key not in self.keys, "a new attempt reused its key"
            self.keys.add(self.payment.gateway_key)

    @invariant()
    def matches_the_model(self) -> None:
        assert self.payment.status == self.status

    @invariant()
    def replays_to_the_same_state(self) -> None:
        assert state_of(replayed(self.shop, self.payment)) == state_of(self.payment)


class CustomerMachine(RuleBasedStateMachine):
    """Registration, renames and email moves through the application, with claims."""

    def __init__(self) -> None:
        super().__init__()
        self.shop = Shop(passwords=Argon2Passwords(HashCost(1, 8, 1)))
        self.emails: dict[UUID, str] = {}

    @rule(n=st.integers(0, 5))
    def register(self, n: int) -> None:
        email = f"user{n}@example.com"
        if email in self.emails.values():
            try:
                self.shop.register_customer(email=email, name="N", password="password")
            except DomainError:
                return
            raise AssertionError("an email was registered twice")
        result = self.shop.register_customer(email=email, name="N", password="password")
        self.emails[result.id] = email

    @precondition(lambda self: self.emails)
    @rule(data=st.data(), n=st.integers(0, 5))
    def change_email(self, data: st.DataObject, n: int) -> None:
        customer_id = data.draw(st.sampled_from(list(self.emails)))
        email = f"user{n}@example.com"
        taken = email in self.emails.values() and self.emails[customer_id] != email
        if taken:
            try:
                self.shop.change_customer(customer_id, email=email)
            except DomainError:
                return
            raise AssertionError("an email was taken twice")
        self.shop.change_customer(customer_id, email=email)
        self.emails[customer_id] = email

    @invariant()
    def every_customer_logs_in_with_their_current_email_only(self) -> None:
        for customer_id, email in self.emails.items():
            assert self.shop.get_customer(customer_id).email == email
            assert self.shop.authenticate(email=email, password="password").id == customer_id


TestProduct = ProductMachine.TestCase
TestOrder = OrderMachine.TestCase
TestPayment = PaymentMachine.TestCase
TestCustomer = CustomerMachine.TestCase
for _case in (TestProduct, TestOrder, TestPayment, TestCustomer):
    _case.settings = SETTINGS
del _case
