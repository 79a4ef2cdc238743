"""Application services: one method per command, each get → mutate → save.

A method returns a :class:`CommandResult`: the aggregate's id and version and the
consistency token of the events it appended.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, Mapper, Recording

from contracts.consistency import PartitionMark, encode_token
from contracts.topics import partition_for, topic_for
from contracts.upcasting import EVENTS_BY_NAME, parse_topic
from write_side.contract_mapping import ContractMapper
from write_side.domain.claims import EmailClaim, SkuClaim
from write_side.domain.customer import Customer
from write_side.domain.errors import EmailTakenError, SkuTakenError
from write_side.domain.product import Product

A = TypeVar("A", bound=Aggregate)


class NotFoundError(LookupError):
    def __init__(self, kind: str, aggregate_id: UUID) -> None:
        super().__init__(f"{kind} {aggregate_id} not found")
        self.kind = kind
        self.aggregate_id = aggregate_id


class ConcurrencyConflictError(Exception):
    """Another command changed the aggregate first; the client may retry."""


@dataclass(frozen=True)
class CommandResult:
    id: UUID
    version: int
    consistency_token: str


class Shop(Application[UUID]):
    """The commerce write model. Its one notification log is the relay's outbox."""

    name = "Shop"

    def __init__(self, env: dict[str, str] | None = None, *, topic_prefix: str = "") -> None:
        self.topic_prefix = topic_prefix
        super().__init__(env)

    def construct_mapper(self) -> Mapper[UUID]:
        return ContractMapper(transcoder=self.factory.transcoder())

    # Customers

    def register_customer(self, *, email: str, name: str) -> CommandResult:
        customer = Customer.register(email=email, name=name)
        claim = EmailClaim(email=customer.email, customer_id=customer.id)
        if claim.id in self.repository:
            raise EmailTakenError(customer.email)
        try:
            return self._save(customer, claim, subject=customer)
        except ConcurrencyConflictError as error:
            # The customer's id is fresh, so only the claim can have collided.
            raise EmailTakenError(customer.email) from error

    # Catalog and inventory

    def create_product(
        self, *, sku: str, title: str, price: int, description: str = "", category: str = ""
    ) -> CommandResult:
        product = Product.create(
            sku=sku, title=title, price=price, description=description, category=category
        )
        claim = SkuClaim(sku=product.sku, product_id=product.id)
        if claim.id in self.repository:
            raise SkuTakenError(product.sku)
        try:
            return self._save(product, claim, subject=product)
        except ConcurrencyConflictError as error:
            raise SkuTakenError(product.sku) from error

    def adjust_stock(self, product_id: UUID, *, delta: int, reason: str = "") -> CommandResult:
        product = self._get(Product, product_id)
        product.adjust_stock(delta, reason)
        return self._save(product, subject=product)

    # Reads of the write model (for tests and invariants, not for the query API)

    def get_customer(self, customer_id: UUID) -> Customer:
        return self._get(Customer, customer_id)

    def get_product(self, product_id: UUID) -> Product:
        return self._get(Product, product_id)

    # Plumbing

    def _get(self, kind: type[A], aggregate_id: UUID) -> A:
        try:
            aggregate: Aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise NotFoundError(kind.__name__.lower(), aggregate_id) from None
        if not isinstance(aggregate, kind):
            raise NotFoundError(kind.__name__.lower(), aggregate_id)
        return aggregate

    def _save(self, *aggregates: Aggregate, subject: Aggregate) -> CommandResult:
        try:
            recordings = self.save(*aggregates)
        except IntegrityError as error:
            raise ConcurrencyConflictError(str(error)) from error
        return CommandResult(
            id=subject.id,
            version=subject.version,
            consistency_token=self._token(recordings),
        )

    def _token(self, recordings: list[Recording[UUID]]) -> str:
        marks = []
        for recording in recordings:
            notification = recording.notification
            contract = EVENTS_BY_NAME[parse_topic(notification.topic)[0]]
            topic = topic_for(contract, self.topic_prefix)
            if topic is not None:
                marks.append(
                    PartitionMark(topic, partition_for(notification.originator_id), notification.id)
                )
        return encode_token(marks)
