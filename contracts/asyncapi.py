"""The published topics as an AsyncAPI 3 document, generated from the contracts: one
channel per topic (``shop.<context>``), one message per published event type with its
payload's JSON Schema (from the pydantic contract), its Kafka key and its headers.

Served by the query API at ``GET /asyncapi.json``; ``tests/integration/test_asyncapi.py``
checks records actually published against it.
"""

from __future__ import annotations

from typing import Any

from contracts import envelope as h
from contracts.events import ALL_EVENTS, ContractEvent
from contracts.topics import PARTITIONS, topic_name

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
    """Published event types by context (internal ones, with no context, are left out)."""
    by_context: dict[str, list[type[ContractEvent]]] = {}
    for cls in ALL_EVENTS:
        if cls.context is not None:
            by_context.setdefault(cls.context, []).append(cls)
    return by_context


def asyncapi(topic_prefix: str = "") -> dict[str, Any]:
    schemas: dict[str, Any] = {"EventHeaders": HEADERS}
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for context, classes in published_events().items():
        for cls in classes:
            schema = cls.model_json_schema(ref_template=_REF)
            schemas.update(schema.pop("$defs", {}))
            schemas[cls.type_name] = schema
            messages[cls.type_name] = _message(cls)
        refs = {c.type_name: {"$ref": f"#/components/messages/{c.type_name}"} for c in classes}
        channels[context] = {
            "address": topic_name(context, topic_prefix),
            "title": f"{context} events",
            "description": (
                f"Events of the {context} context, in event-store order per aggregate"
                f" (key = aggregate id; {PARTITIONS} partitions by murmur2 of the key)."
                " Consumers deduplicate by aggregate version: a record may come twice."
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
                " deduplicate and decode it."
            ),
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def _message(cls: type[ContractEvent]) -> dict[str, Any]:
    return {
        "name": cls.type_name,
        "title": cls.type_name,
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
