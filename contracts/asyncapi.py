"""The published topics as an AsyncAPI 3 document, generated from the contracts: one
channel per topic (``shop.<context>``), one message per published event type with its
payload's JSON Schema (from the pydantic contract), its Kafka key and its headers.

Stored events are never rewritten and the relay publishes them as stored, so a topic
carries every schema version ever written: each past version is a message of its own
(``<Type>.v<N>``, from :mod:`contracts.past`) naming the upcaster that reads it as the next
version; the current version is the message named by the type alone.

Served by the query API at ``GET /asyncapi.json``; ``tests/integration/test_asyncapi.py``
checks records actually published against it.
"""

from __future__ import annotations

from typing import Any

from contracts import envelope as h
from contracts.events import ALL_EVENTS, ContractEvent
from contracts.past import PAST_VERSIONS
from contracts.topics import PARTITIONS, topic_name
from contracts.upcasting import UPCASTERS

_REF = "#/components/schemas/{model}"


def _text(description: str, fmt: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "description": description}
    if fmt:
        schema["format"] = fmt
    return schema


#: Kafka record headers (every value is UTF-8 text).
HEADERS: dict[str, Any] = {
    "type": "object",
    "required": [
        h.H_NOTIFICATION_ID,
        h.H_AGGREGATE_ID,
        h.H_AGGREGATE_VERSION,
        h.H_EVENT_TYPE,
        h.H_SCHEMA_VERSION,
        h.H_PUBLISHED_AT,
        h.H_RELAY_EPOCH,
    ],
    "properties": {
        h.H_NOTIFICATION_ID: _text("The event store's notification id: the position in its log"),
        h.H_AGGREGATE_ID: _text("The aggregate's id, also the record key", "uuid"),
        h.H_AGGREGATE_VERSION: _text("The event's version within its aggregate: 1, 2, …"),
        h.H_EVENT_TYPE: _text("The event type: the message's name"),
        h.H_SCHEMA_VERSION: _text("The payload's schema version"),
        h.H_PUBLISHED_AT: _text("When the relay published it (RFC 3339)", "date-time"),
        h.H_RELAY_EPOCH: _text("Incremented each time the whole log is republished"),
        h.H_CORRELATION_ID: _text("The request that started the chain (its X-Request-ID)"),
        h.H_CAUSATION_ID: _text("What caused it: a request id, or <aggregate id>.<version>"),
        h.H_ACTOR: _text("Who sent the command: a token subject, anonymous or process:<name>"),
    },
}


def published_events() -> dict[str, list[type[ContractEvent]]]:
    """Published event types by context (internal ones, with no context, are left out):
    each type's past versions, oldest first, then its current one."""
    by_context: dict[str, list[type[ContractEvent]]] = {}
    for cls in ALL_EVENTS:
        if cls.context is not None:
            past = [PAST_VERSIONS[(cls.type_name, v)] for v in range(1, cls.schema_version)]
            by_context.setdefault(cls.context, []).extend([*past, cls])
    return by_context


def message_name(type_name: str, schema_version: int) -> str:
    """The message a record with these headers is: ``<Type>`` at the current version,
    ``<Type>.v<N>`` at a past one."""
    current = next(c for c in ALL_EVENTS if c.type_name == type_name).schema_version
    return type_name if schema_version == current else f"{type_name}.v{schema_version}"


def asyncapi(topic_prefix: str = "") -> dict[str, Any]:
    schemas: dict[str, Any] = {"EventHeaders": HEADERS}
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for context, classes in published_events().items():
        names = [message_name(c.type_name, c.schema_version) for c in classes]
        for cls, name in zip(classes, names, strict=True):
            schema = cls.model_json_schema(ref_template=_REF)
            schemas.update(schema.pop("$defs", {}))
            schemas[name] = schema
            messages[name] = _message(cls, name)
        refs = {name: {"$ref": f"#/components/messages/{name}"} for name in names}
        channels[context] = {
            "address": topic_name(context, topic_prefix),
            "title": f"{context} events",
            "description": (
                f"Events of the {context} context, in event-store order per aggregate"
                f" (key = aggregate id; {PARTITIONS} partitions by murmur2 of the key)."
                " Consumers deduplicate by aggregate version: a record may come twice."
                " Past schema versions stay on the topic: read the schema_version header"
                " and upcast (each past version's message names its upcaster)."
            ),
            "messages": refs,
        }
        operations[f"publish_{context}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{context}"},
            "summary": f"The relay publishes {context} events",
            "messages": [{"$ref": f"#/channels/{context}/messages/{name}"} for name in refs],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "eventshop events",
            "version": "1",
            "description": (
                "The domain events eventshop publishes to Kafka. Each record's value is the"
                " stored event's JSON payload, byte for byte; headers say how to order,"
                " deduplicate and decode it. Fields marked `x-personal: sealed` (a customer's"
                " email and name) are sealed under that customer's own key: `pii1.` +"
                " base64url(nonce, AES-256-GCM ciphertext and tag), the customer id as"
                " associated data. The keys never leave eventshop's database; a consumer"
                " outside it sees ciphertext, and after an erasure nobody can open them."
                " Schema v1 of these events (before sealing) carried them in clear."
            ),
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def _message(cls: type[ContractEvent], name: str) -> dict[str, Any]:
    message: dict[str, Any] = {
        "name": name,
        "title": f"{cls.type_name} v{cls.schema_version}",
        "summary": (cls.__doc__ or cls.type_name).strip().splitlines()[0],
        "contentType": "application/json",
        "payload": {"$ref": f"#/components/schemas/{cls.type_name}"},
        "headers": {"$ref": "#/components/schemas/EventHeaders"},
        "bindings": {
            "kafka": {
                "key": {"type": "string", "format": "uuid", "description": "The aggregate id"},
                "bindingVersion": "0.5.0",
            }
        },
        "x-schema-version": cls.schema_version,
    }
    upcaster = UPCASTERS.get((cls.type_name, cls.schema_version))
    if upcaster is not None:  # a past version: how it is read as the next one
        message["x-upcaster"] = {
            "to-schema-version": cls.schema_version + 1,
            "function": f"{upcaster.__module__}.{upcaster.__qualname__}",
            "description": " ".join((upcaster.__doc__ or "").split()),
        }
        message["deprecated"] = True
    return message
