"""Encode and decode stored events: topic ``<TypeName>.v<N>``, orjson payload, upcasting.

Every read path (domain reconstitution, relay consumers, projectors, rebuild) decodes
through :func:`decode`, so an old payload is upcast the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from pydantic import ValidationError

from contracts.events import ALL_EVENTS, ContractEvent, category_label

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

EVENTS_BY_NAME: dict[str, type[ContractEvent]] = {cls.type_name: cls for cls in ALL_EVENTS}


def one_category_to_many(data: dict[str, Any]) -> dict[str, Any]:
    """v1 → v2 of the product events: ``category`` becomes ``categories``, a list of
    normalized labels (``"Kitchen"`` → ``["kitchen"]``; blank or absent → ``[]``)."""
    upcast = {k: v for k, v in data.items() if k != "category"}
    label = category_label(str(data.get("category") or ""))
    upcast["categories"] = [label] if label else []
    return upcast


def personal_in_clear(data: dict[str, Any]) -> dict[str, Any]:
    """v1 → v2 of the customer events: the personal fields were stored in clear. They stay
    clear (nothing here has the key): readers open sealed values and pass clear ones through
    (:func:`contracts.personal.reveal`)."""
    return data


#: ``(type_name, from_version) -> function`` turning a vN payload into a vN+1 payload.
#: Every version below a type's current one has one (tests/unit/test_contracts.py).
UPCASTERS: dict[tuple[str, int], Upcaster] = {
    ("ProductCreated", 1): one_category_to_many,
    ("ProductDetailsChanged", 1): one_category_to_many,
    ("CustomerRegistered", 1): personal_in_clear,
    ("CustomerRenamed", 1): personal_in_clear,
    ("CustomerEmailChanged", 1): personal_in_clear,
    ("EmailClaimed", 1): personal_in_clear,
}


class UnknownEventTypeError(LookupError):
    """The stored or published type name is not one this code knows (a newer producer)."""


class SchemaVersionAheadError(UnknownEventTypeError):
    """A known type at a schema version newer than this code's: a newer release can read it."""


def knows(type_name: str, schema_version: int) -> bool:
    """True when this code can decode ``type_name`` at ``schema_version``."""
    cls = EVENTS_BY_NAME.get(type_name)
    return cls is not None and 1 <= schema_version <= cls.schema_version


class UndecodableEventError(ValueError):
    """The bytes are not a valid payload for the type and version they claim."""


def topic_of(event: ContractEvent) -> str:
    return stored_topic(type(event).type_name, type(event).schema_version)


def stored_topic(type_name: str, schema_version: int) -> str:
    return f"{type_name}.v{schema_version}"


def every_stored_topic(*classes: type[ContractEvent]) -> list[str]:
    """The stored topics of these types at every schema version ever written (v1 to the
    current one). A reader that filters the store by topic must ask for all of them: with
    the current version's alone it would never see what an older release wrote."""
    return [
        stored_topic(cls.type_name, version)
        for cls in classes
        for version in range(1, cls.schema_version + 1)
    ]


def parse_topic(topic: str) -> tuple[str, int]:
    name, sep, version = topic.rpartition(".v")
    if not sep or not name or not version.isdigit():
        raise UndecodableEventError(f"not an event topic: {topic!r}")
    return name, int(version)


def encode(event: ContractEvent) -> bytes:
    # Without meta, the payload is what it was before meta existed.
    return orjson.dumps(
        event.model_dump(mode="json", exclude={"meta"} if event.meta is None else None)
    )


def decode(type_name: str, schema_version: int, payload: bytes) -> ContractEvent:
    """Parse a ``type_name`` v``schema_version`` payload and upcast it to the current version."""
    cls = EVENTS_BY_NAME.get(type_name)
    if cls is None:
        raise UnknownEventTypeError(type_name)
    if schema_version > cls.schema_version:
        raise SchemaVersionAheadError(f"{type_name} v{schema_version}")
    if schema_version < 1:
        raise UnknownEventTypeError(f"{type_name} v{schema_version}")
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError as error:
        raise UndecodableEventError(f"{type_name}: payload is not JSON: {error}") from error
    if not isinstance(data, dict):
        raise UndecodableEventError(f"{type_name}: payload is not a JSON object")
    for version in range(schema_version, cls.schema_version):
        data = UPCASTERS[(type_name, version)](data)
    try:
        return cls.model_validate(data)
    except ValidationError as error:
        raise UndecodableEventError(f"{type_name} v{schema_version}: {error}") from error


def decode_topic(topic: str, payload: bytes) -> ContractEvent:
    name, version = parse_topic(topic)
    return decode(name, version, payload)
