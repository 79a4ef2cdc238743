"""Past schema versions of the events, kept exactly as they were published.

Stored events are never rewritten, so every version ever written is still read: through
the upcasters in :mod:`contracts.upcasting`, which turn a vN payload into vN+1. These
classes are that vN, frozen: the AsyncAPI document lists them beside the current versions,
tests/unit/test_contract_fingerprints.py holds their schemas fixed, and tests write stored
events with them exactly as an old release did. Never edit one; add a version instead.
"""

from __future__ import annotations

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


#: ``(type_name, schema_version) -> class`` for every version older than the current one.
PAST_VERSIONS: dict[tuple[str, int], type[ContractEvent]] = {
    (cls.type_name, cls.schema_version): cls for cls in (ProductCreatedV1, ProductDetailsChangedV1)
}
