"""Uniqueness claims: an aggregate whose id derives from the unique value.

Saving the claim in the same ``save()`` as the aggregate that owns the value makes the
event store's primary key enforce uniqueness in that one transaction: two writers that
claim the same value both append the same claim version, and only one commits.
"""

from __future__ import annotations

from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from write_side.domain.errors import EmailTakenError

_NAMESPACE = UUID("6f1c9d3e-2b5a-4c8e-9a71-3d2f0e4b8c15")


def normalize_email(email: str) -> str:
    return email.strip().lower()


def normalize_sku(sku: str) -> str:
    return sku.strip().upper()


class EmailClaim(Aggregate):
    class Claimed(Aggregate.Created):
        email: str
        customer_id: UUID

    class Released(Aggregate.Event):
        pass

    class Reclaimed(Aggregate.Event):
        customer_id: UUID

    @staticmethod
    def create_id(email: str) -> UUID:
        return uuid5(_NAMESPACE, "email:" + normalize_email(email))

    @event(Claimed)
    def __init__(self, email: str, customer_id: UUID) -> None:
        self.email = email
        self.customer_id: UUID | None = customer_id

    def release(self) -> None:
        self._released()

    @event(Released)
    def _released(self) -> None:
        self.customer_id = None

    def reclaim(self, customer_id: UUID) -> None:
        if self.customer_id is not None:
            raise EmailTakenError(self.email)
        self._reclaimed(customer_id=customer_id)

    @event(Reclaimed)
    def _reclaimed(self, customer_id: UUID) -> None:
        self.customer_id = customer_id


class SkuClaim(Aggregate):
    class Claimed(Aggregate.Created):
        sku: str
        product_id: UUID

    @staticmethod
    def create_id(sku: str) -> UUID:
        return uuid5(_NAMESPACE, "sku:" + normalize_sku(sku))

    @event(Claimed)
    def __init__(self, sku: str, product_id: UUID) -> None:
        self.sku = sku
        self.product_id = product_id


class Credentials(Aggregate):
    """A customer's password hash, apart from the Customer so it is never published."""

    class PasswordSet(Aggregate.Created):
        customer_id: UUID
        password_hash: str

    @staticmethod
    def create_id(customer_id: UUID) -> UUID:
        return uuid5(_NAMESPACE, f"credentials:{customer_id}")

    @event(PasswordSet)
    def __init__(self, customer_id: UUID, password_hash: str) -> None:
        self.customer_id = customer_id
        self.password_hash = password_hash
