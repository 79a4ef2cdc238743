"""The write side's mapping between its domain events and the published contracts.

Stored event = contract (docs/architecture.md, "Stored event = contract"): the event store holds
each event as its contract payload (orjson bytes) under the topic ``<TypeName>.v<N>``. So the
relay forwards stored bytes untouched and a rebuild reads the store with ``contracts`` alone.
Reading goes through :func:`contracts.upcasting.decode`, which upcasts old versions, so
aggregates are always reconstituted from current-version payloads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, DomainEventProtocol
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic

from contracts import events as c
from contracts.causation import CAUSE
from contracts.personal import PERSONAL_FIELDS, owner_of, reveal, seal_event
from contracts.upcasting import decode_topic, encode, topic_of
from write_side.domain.claims import Credentials, EmailClaim, SkuClaim
from write_side.domain.customer import Customer
from write_side.domain.order import LineItem, Order
from write_side.domain.payment import Payment
from write_side.domain.product import Product
from write_side.persistence.personal_keys import KeyRing

_ENVELOPE_FIELDS = ("originator_id", "originator_version", "originator_topic", "timestamp")


def _no_change(state: dict[str, Any]) -> dict[str, Any]:
    return state


def _order_lines(state: dict[str, Any]) -> dict[str, Any]:
    return {**state, "lines": tuple(LineItem(**line) for line in state["lines"])}


@dataclass(frozen=True)
class Mapping:
    aggregate: type[Aggregate]
    domain_event: type[Aggregate.Event]
    contract: type[c.ContractEvent]
    #: Turns the contract's plain values back into domain values (nested value objects).
    to_domain: Callable[[dict[str, Any]], dict[str, Any]] = _no_change


MAPPINGS: tuple[Mapping, ...] = (
    Mapping(Customer, Customer.Registered, c.CustomerRegistered),
    Mapping(Customer, Customer.Renamed, c.CustomerRenamed),
    Mapping(Customer, Customer.EmailChanged, c.CustomerEmailChanged),
    Mapping(Customer, Customer.Erased, c.CustomerErased),
    Mapping(Credentials, Credentials.PasswordSet, c.PasswordSet),
    Mapping(EmailClaim, EmailClaim.Claimed, c.EmailClaimed),
    Mapping(EmailClaim, EmailClaim.Released, c.EmailReleased),
    Mapping(EmailClaim, EmailClaim.Reclaimed, c.EmailReclaimed),
    Mapping(Product, Product.Created, c.ProductCreated),
    Mapping(Product, Product.StockAdjusted, c.StockAdjusted),
    Mapping(Product, Product.DetailsChanged, c.ProductDetailsChanged),
    Mapping(Product, Product.PriceChanged, c.ProductPriceChanged),
    Mapping(Product, Product.Published, c.ProductPublished),
    Mapping(Product, Product.Archived, c.ProductArchived),
    Mapping(Product, Product.StockReserved, c.StockReserved),
    Mapping(Product, Product.StockReleased, c.StockReleased),
    Mapping(Product, Product.StockCommitted, c.StockCommitted),
    Mapping(SkuClaim, SkuClaim.Claimed, c.SkuClaimed),
    Mapping(Order, Order.Placed, c.OrderPlaced, _order_lines),
    Mapping(Order, Order.Paid, c.OrderPaid),
    Mapping(Order, Order.Shipped, c.OrderShipped),
    Mapping(Order, Order.Cancelled, c.OrderCancelled),
    Mapping(Payment, Payment.Started, c.PaymentStarted),
    Mapping(Payment, Payment.Restarted, c.PaymentRestarted),
    Mapping(Payment, Payment.Captured, c.PaymentCaptured),
    Mapping(Payment, Payment.Declined, c.PaymentDeclined),
    Mapping(Payment, Payment.Failed, c.PaymentFailed),
    Mapping(Payment, Payment.Refunded, c.PaymentRefunded),
)
_BY_DOMAIN = {m.domain_event: m for m in MAPPINGS}
_BY_CONTRACT = {m.contract: m for m in MAPPINGS}


class UnmappedEventError(TypeError):
    """A domain event class has no contract: add it to ``MAPPINGS``."""


def to_contract(domain_event: DomainEventProtocol[Any]) -> c.ContractEvent:
    mapping = next((m for t, m in _BY_DOMAIN.items() if type(domain_event) is t), None)
    if mapping is None:
        raise UnmappedEventError(type(domain_event).__qualname__)
    state = vars(domain_event)
    fields = {k: v for k, v in state.items() if k not in _ENVELOPE_FIELDS}
    return mapping.contract(occurred_at=state["timestamp"], **fields)


class ContractMapper(Mapper[UUID]):
    """Stores domain events as contract payloads and reads them back, upcasting. Personal
    fields are sealed on the way in and opened on the way out with the owner's key."""

    def __init__(self, *args: Any, keys: KeyRing, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: The application's keys (bound to its recorder's datastore once it has one).
        self.keys = keys

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        contract = to_contract(domain_event)
        if contract.type_name in PERSONAL_FIELDS:
            owner = owner_of(contract, domain_event.originator_id)
            assert owner is not None
            key = self.keys.key_for_write(owner)
            contract = seal_event(contract, domain_event.originator_id, key)
        cause = CAUSE.get()
        if cause is not None:  # who and what caused it (contracts/causation.py)
            contract = contract.model_copy(update={"meta": cause})
        return StoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=topic_of(contract),
            state=encode(contract),
        )

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        contract = decode_topic(stored_event.topic, stored_event.state)
        originator_id = UUID(str(stored_event.originator_id))
        contract = reveal(contract, originator_id, self.keys.key_for_read)
        mapping = _BY_CONTRACT[type(contract)]
        state: dict[str, Any] = mapping.to_domain(contract.model_dump(exclude={"meta"}))
        state["timestamp"] = state.pop("occurred_at")
        state["originator_id"] = originator_id
        state["originator_version"] = stored_event.originator_version
        if issubclass(mapping.domain_event, Aggregate.Created):
            state["originator_topic"] = get_topic(mapping.aggregate)
        domain_event = object.__new__(mapping.domain_event)
        object.__setattr__(domain_event, "__dict__", state)
        return domain_event
