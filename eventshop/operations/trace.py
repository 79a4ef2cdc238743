"""``eventshop events trace ID``: the causal chain of a request or an event, from the
event store (and the mail it caused, from the mail reactor's outbox).

``ID`` is a request id (the ``X-Request-ID`` a command was sent or answered with) or an
event id (``<aggregate id>.<version>``). Events carry their correlation id, causation id
and actor in their stored ``meta`` (contracts/causation.py); everything sharing the
correlation id is the chain, in the order it was stored. An expiry cancel made by the
order process manager carries the placing request's correlation id and names the
``OrderPlaced`` as its cause. The events are found through an index of the correlation id
in their payloads (``shop_events_correlation``, write_side/persistence/migrations.py).
"""

from __future__ import annotations

import re
from typing import Any

import psycopg
from psycopg import sql

from contracts.causation import event_id, meta_of
from contracts.upcasting import parse_topic
from write_side.persistence.migrations import EVENTS_TABLE

_EVENT_ID = re.compile(r"([0-9a-fA-F-]{36})\.(\d+)")


def trace(
    conn: psycopg.Connection[Any], event_schema: str, read_schema: str, id_: str
) -> list[dict[str, Any]]:
    """The events (and mails) of ``id_``'s chain, oldest first; empty when none is known."""
    correlation = _correlation_of(conn, event_schema, id_) or id_
    needle = f'"correlation_id":"{correlation}"'.encode()
    rows = conn.execute(
        sql.SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {}"
            " WHERE {}.correlation_key(state) = hashtext(encode(%s::bytea, 'hex'))"
            " AND position(%s::bytea in state) > 0 ORDER BY notification_id"
        ).format(sql.Identifier(event_schema, EVENTS_TABLE), sql.Identifier(event_schema)),
        (correlation.encode(), needle),
    ).fetchall()
    chain: list[dict[str, Any]] = []
    for notification_id, aggregate_id, version, topic, state in rows:
        meta = meta_of(bytes(state))
        if meta is None or meta.correlation_id != correlation:
            continue
        what, schema_version = parse_topic(topic)
        chain.append(
            {
                "what": what,
                # As stored: an older release's events keep their version (never rewritten).
                "schema": schema_version,
                "id": event_id(aggregate_id, version),
                "notification_id": notification_id,
                "command": meta.command,
                "actor": meta.actor,
                "caused_by": meta.causation_id,
            }
        )
    return chain + _mails(conn, read_schema, correlation)


def _correlation_of(conn: psycopg.Connection[Any], schema: str, id_: str) -> str | None:
    match = _EVENT_ID.fullmatch(id_)
    if match is None:
        return None
    row = conn.execute(
        sql.SQL("SELECT state FROM {} WHERE originator_id = %s AND originator_version = %s").format(
            sql.Identifier(schema, EVENTS_TABLE)
        ),
        (match[1], int(match[2])),
    ).fetchone()
    meta = meta_of(bytes(row[0])) if row else None
    return meta.correlation_id if meta else None


def _mails(conn: psycopg.Connection[Any], schema: str, correlation: str) -> list[dict[str, Any]]:
    found = conn.execute(
        sql.SQL(
            "SELECT kind, key, state, recipient, aggregate_id, aggregate_version FROM {}"
            " WHERE correlation_id = %s ORDER BY notification_id"
        ).format(sql.Identifier(schema, "mail_outbox")),
        (correlation,),
    ).fetchall()
    return [
        {
            "what": f"mail {kind} ({state})",
            "id": key,
            "notification_id": None,
            "command": "",
            "actor": "process:mail",
            "caused_by": event_id(aggregate_id, version),
        }
        for kind, key, state, _recipient, aggregate_id, version in found
    ]
