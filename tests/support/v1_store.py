"""A store with history written by the v1 contracts, as a release before the change wrote it.

The payloads come from the real v1 classes (``contracts.past``), encoded exactly as the
write side encoded them then (``contracts.upcasting.encode``, topic ``<Type>.v1``), and go
in through the event store's own recorder: not hand-made JSON, not a rewrite of anything.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

from eventsourcing.persistence import StoredEvent

from contracts.causation import EventMeta
from contracts.events import ContractEvent
from contracts.past import (
    CustomerRegisteredV1,
    CustomerRenamedV1,
    EmailClaimedV1,
    ProductCreatedV1,
    ProductDetailsChangedV1,
)
from contracts.upcasting import encode, topic_of
from write_side.application.shop import Shop
from write_side.domain.claims import Credentials, EmailClaim, SkuClaim


def _stored(aggregate_id: UUID, version: int, event: ContractEvent) -> StoredEvent:
    return StoredEvent(
        originator_id=aggregate_id,
        originator_version=version,
        topic=topic_of(event),
        state=encode(event),
    )


def write_v1_product(
    shop: Shop,
    *,
    sku: str,
    title: str,
    category: str,
    renamed: tuple[str, str] | None = None,
    request_id: str = "",
) -> UUID:
    """A product created (and, with ``renamed = (title, category)``, changed) by v1 code.
    Its sku claim is stored too, as the create command stores it."""
    product_id, now = uuid4(), datetime.now(UTC)
    meta = (
        EventMeta(correlation_id=request_id, causation_id=request_id, actor="v1-release")
        if request_id
        else None
    )
    events = [
        _stored(
            product_id,
            1,
            ProductCreatedV1(
                occurred_at=now, sku=sku, title=title, category=category, price=500, meta=meta
            ),
        )
    ]
    if renamed is not None:
        events.append(
            _stored(
                product_id,
                2,
                ProductDetailsChangedV1(
                    occurred_at=now, title=renamed[0], description="", category=renamed[1]
                ),
            )
        )
    claim = SkuClaim(sku=sku, product_id=product_id)
    events += [shop.mapper.to_stored_event(e) for e in claim.collect_events()]
    shop.recorder.insert_events(events)
    return product_id


def write_v1_customer(shop: Shop, *, email: str, name: str, password: str) -> UUID:
    """A customer registered (and renamed) by a release before personal fields were
    sealed: their email and name stored in clear, with the email claim and credentials the
    register command stores."""
    customer_id, now = uuid4(), datetime.now(UTC)
    events = [
        _stored(customer_id, 1, CustomerRegisteredV1(occurred_at=now, email=email, name=name)),
        _stored(customer_id, 2, CustomerRenamedV1(occurred_at=now, name=f"{name} Senior")),
    ]
    claim_id = EmailClaim.create_id(email)
    events.append(
        _stored(claim_id, 1, EmailClaimedV1(occurred_at=now, email=email, customer_id=customer_id))
    )
    credentials = Credentials(customer_id=customer_id, password_hash=shop.passwords.hash(password))
    events += [shop.mapper.to_stored_event(e) for e in credentials.collect_events()]
    shop.recorder.insert_events(events)
    return customer_id
