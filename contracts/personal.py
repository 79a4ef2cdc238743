"""Personal data: which event fields hold it, and how they are sealed under a customer's key.

Each customer has a data key of their own (AES-256-GCM, from the ``cryptography`` package),
kept in the event store's ``customer_keys`` table, which the query role cannot read. The
personal fields of the events below are stored and published *sealed*:

    pii1.<base64url(12-byte nonce ‖ ciphertext ‖ 16-byte tag)>

with the owner's id (16 bytes) as associated data, so a sealed value cannot be moved to
another customer's event. Every other field stays clear: ids, totals and order lines work
for accounting and for consumers without keys. Erasing a customer destroys their key: every
copy of their sealed values (events, topics, dead letters, backups) becomes unreadable at
once, and readers show :data:`ERASED` in their place (docs/operations.md, "Personal data").

Events written before sealing existed (schema v1 of these types) hold their fields in
clear; :func:`reveal` passes clear values through, and erasure rewrites exactly those
fields in place (``write_side.persistence.erasure``).
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from contracts.events import ContractEvent

#: What readers show for a personal field whose key is gone (the customer was erased).
ERASED = "erased"
#: How a sealed value starts. A v1 (clear) value starting with it would read as sealed: no
#: email can (no "@" check passes on it) and a name this odd was never registered.
PREFIX = "pii1."
#: The event that destroys a customer's key (contracts.events.CustomerErased).
ERASURE = "CustomerErased"
#: The keys' table, in the event store's schema.
KEY_TABLE = "customer_keys"

#: ``type_name -> (field naming the owner, or None for the event's aggregate; fields)``.
PERSONAL_FIELDS: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "CustomerRegistered": (None, ("email", "name")),
    "CustomerRenamed": (None, ("name",)),
    "CustomerEmailChanged": (None, ("email",)),
    "EmailClaimed": ("customer_id", ("email",)),
}

KeyLookup = Callable[[UUID], "bytes | None"]


class TamperedValueError(ValueError):
    """A sealed value does not open under its owner's existing key: it was altered or moved.
    An error about the event's content (a dead letter), never shown as data."""


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def seal(key: bytes, owner: UUID, value: str) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, value.encode(), owner.bytes)
    return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")


def unseal(key: bytes | AESGCM | None, owner: UUID, value: str) -> str:
    """The clear text of ``value``: itself when clear, :data:`ERASED` when the key is gone."""
    if not is_sealed(value):
        return value
    if key is None:
        return ERASED
    cipher = AESGCM(key) if isinstance(key, bytes) else key
    text = value[len(PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        return cipher.decrypt(raw[:12], raw[12:], owner.bytes).decode()
    except (InvalidTag, binascii.Error, ValueError, UnicodeDecodeError) as error:
        raise TamperedValueError(f"a sealed value of customer {owner} does not open") from error


def owner_of(event: ContractEvent, aggregate_id: UUID) -> UUID | None:
    """Whose key seals this event's personal fields (None: it has none)."""
    spec = PERSONAL_FIELDS.get(event.type_name)
    if spec is None:
        return None
    field = spec[0]
    owner: UUID = getattr(event, field) if field else aggregate_id
    return owner


def personal_values(event: ContractEvent) -> dict[str, str]:
    spec = PERSONAL_FIELDS.get(event.type_name)
    return {} if spec is None else {f: getattr(event, f) for f in spec[1]}


def needs_key(event: ContractEvent) -> bool:
    return any(is_sealed(v) for v in personal_values(event).values())


def seal_event(event: ContractEvent, aggregate_id: UUID, key: bytes) -> ContractEvent:
    """The event with its clear personal fields sealed under ``key``."""
    owner = owner_of(event, aggregate_id)
    if owner is None:
        return event
    update = {f: seal(key, owner, v) for f, v in personal_values(event).items() if not is_sealed(v)}
    return event.model_copy(update=update) if update else event


def reveal(event: ContractEvent, aggregate_id: UUID, keys: KeyLookup) -> ContractEvent:
    """The event with its sealed fields opened (:data:`ERASED` where the key is gone)."""
    owner = owner_of(event, aggregate_id)
    if owner is None or not needs_key(event):
        return event
    key = keys(owner)
    cipher = None if key is None else AESGCM(key)  # one per event, for all its fields
    update = {f: unseal(cipher, owner, v) for f, v in personal_values(event).items()}
    return event.model_copy(update=update)


def erased_payload(data: dict[str, Any], type_name: str) -> dict[str, Any]:
    """A stored payload with its personal fields replaced by :data:`ERASED` (the in-place
    rewrite of a clear, pre-sealing event when its customer is erased)."""
    fields = PERSONAL_FIELDS.get(type_name, (None, ()))[1]
    return {k: (ERASED if k in fields else v) for k, v in data.items()}


class MaskedError(Exception):
    """A handler's error with the event's personal values masked: what dead letters, their
    topics' headers and logs keep (they outlive an erasure; the values must not)."""


def masked(error: BaseException, event: ContractEvent | None) -> BaseException:
    """``error``, or a :class:`MaskedError` naming its type when its text quotes one of the
    event's (opened) personal values."""
    text = str(error)
    values = personal_values(event) if event is not None else {}
    hidden = text
    for value in values.values():
        if len(value) >= 2 and value != ERASED and not is_sealed(value):
            hidden = hidden.replace(value, "[personal]")
    if hidden == text:
        return error
    return MaskedError(f"{type(error).__name__}: {hidden}")
