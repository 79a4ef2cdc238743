"""Uniqueness claims: an aggregate whose id derives from the unique value.

Saving the claim in the same ``save()`` as the aggregate that owns the value makes the
event store's primary key enforce uniqueness in that one transaction: a second claim of
the same value is a version-1 conflict, whatever the concurrency.
"""

from __future__ import annotations

from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

_NAMESPACE = UUID("6f1c9d3e-2b5a-4c8e-9a71-3d2f0e4b8c15")


def normalize_email(email: str) -> str:
    return email.strip().lower()


def normalize_sku(sku: str) -> str:
    return sku.strip().upper()


class EmailClaim(Aggregate):
    class Claimed(Aggregate.Created):
        email: str
        customer_id: UUID

    @staticmethod
    def create_id(email: str) -> UUID:
        return uuid5(_NAMESPACE, "email:" + normalize_email(email))

    @event(Claimed)
    def __init__(self, email: str, customer_id: UUID) -> None:
        self.email = email
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
