"""Every stored schema is frozen under its version: a contract that changes shape without a
new ``schema_version`` fails here (docs/architecture.md, "Changing an event").

The fingerprint covers a schema's shape (fields, types, required, defaults), not its
descriptions or titles: rewording a docstring is not a contract change. The v1 entries of
the product events were taken from the release before v2, and ``contracts.past`` still
produces them: the past classes are the contracts those releases wrote with.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from contracts.events import ALL_EVENTS, ContractEvent
from contracts.past import PAST_VERSIONS

FROZEN: dict[str, str] = {
    "ProductCreated.v1": "69a96fb92022efe8",
    "ProductDetailsChanged.v1": "758837974845ad6d",
    "CustomerRegistered.v1": "e50f9a2a486b9a07",
    "CustomerRenamed.v1": "c5c15b07327c59a5",
    "CustomerEmailChanged.v1": "b6be25c7c3a6c8d8",
    "PasswordSet.v1": "47d36dcb7f62aa1b",
    "EmailClaimed.v1": "a2f567e968687bc6",
    "EmailReleased.v1": "160c901251866518",
    "EmailReclaimed.v1": "a97418b712767c71",
    "ProductCreated.v2": "9095d70c9c20dd28",
    "SkuClaimed.v1": "e3844835fb89e5d4",
    "StockAdjusted.v1": "aa3a614cbfa949ef",
    "ProductDetailsChanged.v2": "f517b4b26528c5c1",
    "ProductPriceChanged.v1": "7bf779f617cf8899",
    "ProductPublished.v1": "160c901251866518",
    "ProductArchived.v1": "160c901251866518",
    "StockReserved.v1": "9ebf341b5aeb6795",
    "StockReleased.v1": "9ebf341b5aeb6795",
    "StockCommitted.v1": "9ebf341b5aeb6795",
    "OrderPlaced.v1": "870af13ca1a9c0f8",
    "OrderPaid.v1": "1a3768d5576e43dc",
    "OrderShipped.v1": "160c901251866518",
    "OrderCancelled.v1": "067ba8b2ba3592f2",
    "PaymentStarted.v1": "380930ad3bf0e7ef",
    "PaymentRestarted.v1": "09bef851dd2ff27a",
    "PaymentCaptured.v1": "160c901251866518",
    "PaymentDeclined.v1": "42f23f6d49e8a774",
    "PaymentFailed.v1": "42f23f6d49e8a774",
    "PaymentRefunded.v1": "9cf08a5ec72f3e72",
    # Personal fields sealed (contracts/personal.py); v1 above held them in clear.
    "CustomerRegistered.v2": "a83203bcc43d6678",
    "CustomerRenamed.v2": "677b0d82bc1e3f1b",
    "CustomerEmailChanged.v2": "72b96250fa7023b7",
    "EmailClaimed.v2": "3287567e7858ef24",
    "CustomerErased.v1": "feb00ae11e868caa",
}


def _shape(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _shape(v) for k, v in node.items() if k not in ("description", "title")}
    if isinstance(node, list):
        return [_shape(v) for v in node]
    return node


def fingerprint(cls: type[ContractEvent]) -> str:
    schema = orjson.dumps(_shape(cls.model_json_schema()), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(schema).hexdigest()[:16]


def stored_schemas() -> dict[str, str]:
    """Every schema the event store may hold: each type's past versions and current one."""
    every = [*PAST_VERSIONS.values(), *ALL_EVENTS]
    return {f"{c.type_name}.v{c.schema_version}": fingerprint(c) for c in every}


def test_no_stored_schema_changes_without_a_new_version() -> None:
    now = stored_schemas()
    changed = sorted(k for k in FROZEN.keys() & now.keys() if FROZEN[k] != now[k])
    assert not changed, (
        f"{changed} changed shape under the same schema_version. A stored event never"
        " changes: bump schema_version, keep the old class in contracts/past.py and add an"
        " upcaster (docs/architecture.md, 'Changing an event'). Only an additive change (a"
        " new field with a default) may keep the version: then record its new fingerprint."
    )


def test_every_stored_schema_is_frozen_and_none_disappears() -> None:
    now = stored_schemas()
    assert not FROZEN.keys() - now.keys(), "a stored version vanished: readers need it forever"
    new = {k: v for k, v in now.items() if k not in FROZEN}
    assert not new, f"new schema versions: freeze them here once reviewed: {new}"
