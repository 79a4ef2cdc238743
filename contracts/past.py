"""Past schema versions of the events, kept exactly as they were published.

Stored events are never rewritten, so every version ever written is still read: through
the upcasters in :mod:`contracts.upcasting`, which turn a vN payload into vN+1. These
classes are that vN, frozen: the AsyncAPI document lists them beside the current versions,
tests/unit/test_contract_fingerprints.py holds their schemas fixed, and tests write stored
events with them exactly as an old release did. Never edit one; add a version instead.
"""

from __future__ import annotations

from uuid import UUID

from contracts.events import ContractEvent


class ProductCreatedV1(ContractEvent):
    type_name = "ProductCreated"
    schema_version = 1
    context = "catalog"

    sku: str
    title: str
    description: str = ""
    category: str = ""
    price: int


class ProductDetailsChangedV1(ContractEvent):
    """The catalog fields after the change (all of them, not only what changed)."""

    type_name = "ProductDetailsChanged"
    schema_version = 1
    context = "catalog"

    title: str
    description: str
    category: str


class CustomerRegisteredV1(ContractEvent):
    type_name = "CustomerRegistered"
    schema_version = 1
    context = "customers"

    email: str
    name: str
    role: str = "customer"


class CustomerRenamedV1(ContractEvent):
    type_name = "CustomerRenamed"
    schema_version = 1
    context = "customers"

    name: str


class CustomerEmailChangedV1(ContractEvent):
    type_name = "CustomerEmailChanged"
    schema_version = 1
    context = "customers"

    email: str


class EmailClaimedV1(ContractEvent):
    type_name = "EmailClaimed"
    schema_version = 1
    context = None

    email: str
    customer_id: UUID


#: ``(type_name, schema_version) -> class`` for every version older than the current one.
PAST_VERSIONS: dict[tuple[str, int], type[ContractEvent]] = {
    (cls.type_name, cls.schema_version): cls
    for cls in (
        ProductCreatedV1,
        ProductDetailsChangedV1,
        CustomerRegisteredV1,
        CustomerRenamedV1,
        CustomerEmailChangedV1,
        EmailClaimedV1,
    )
}
