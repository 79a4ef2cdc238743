"""The mail reactor's intake: what each event means for mail, written as effect records.

One function per event type, called by the consumer discipline the projectors use (the
composition root wires it: ``eventshop.wiring.mail_reactor``), inside the transaction that
also saves the reactor's position. So an event owes its mail exactly once: the effect
record (``mail_outbox``) and the position commit together, and a redelivered event is a
duplicate by aggregate version before any handler runs. Sending is the sender's business
(:mod:`reactors.sender`); no handler here talks to SMTP.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import orjson
from psycopg import Cursor, sql

from contracts.envelope import Envelope
from contracts.events import (
    ContractEvent,
    CustomerEmailChanged,
    CustomerErased,
    CustomerRegistered,
    CustomerRenamed,
    OrderCancelled,
    OrderPaid,
    OrderPlaced,
    OrderShipped,
)
from contracts.personal import ERASED

NAME = "mail"
#: The mail each event type owes, named by its kind (its template).
MAIL_KINDS: dict[type[ContractEvent], str] = {
    CustomerRegistered: "welcome",
    OrderPaid: "paid",
    OrderShipped: "shipped",
    OrderCancelled: "cancelled",
}
#: Published types of its contexts the intake passes over on purpose: none (each of them
#: changes a mail, a recipient or an order's facts); a type of a newer release waits.
IGNORED: frozenset[str] = frozenset()
#: The effect records' table (one row per owed mail, keyed by ``owed_mail``).
EFFECTS_TABLE = "mail_outbox"


def owed_mail(env: Envelope, event: ContractEvent) -> str | None:
    """The key of the mail ``event`` owes (``<kind>.<aggregate id>.<version>``: it names
    the event, so the mail's Message-ID is the same however often it is sent), or None.
    The one rule of what is owed: the handlers below and `projections verify mail` use it.
    """
    kind = MAIL_KINDS.get(type(event))
    if kind is None or (isinstance(event, CustomerRegistered) and event.role == "admin"):
        return None  # admins are made by operators, not welcomed
    return f"{kind}.{env.aggregate_id}.{env.aggregate_version}"


def owe(
    cur: Cursor[Any],
    schema: str,
    env: Envelope,
    event: ContractEvent,
    *,
    customer_id: UUID | None = None,
    order_id: UUID | None = None,
    **facts: object,
) -> None:
    """Record the mail that ``event`` owes, if any (``owed_mail``)."""
    key = owed_mail(env, event)
    if key is None:
        return
    # An order's customer comes from its OrderPlaced, which precedes the order's other
    # events in this intake (per-aggregate order). Were it missing, customer_id would be
    # NULL and the insert would fail: the event is dead-lettered, never silently mailless.
    # Mail owed to an erased customer is recorded, discarded: nobody is left to write to.
    cur.execute(
        sql.SQL(
            "INSERT INTO {0}.mail_outbox (key, kind, aggregate_id, aggregate_version,"
            " notification_id, customer_id, order_id, facts, correlation_id, state, last_error)"
            " SELECT %s, %s, %s, %s, %s, c.id, %s, %s::jsonb, %s,"
            " CASE WHEN r.email = %s THEN 'discarded' ELSE 'pending' END,"
            " CASE WHEN r.email = %s THEN 'customer erased' END"
            " FROM (SELECT coalesce(%s::uuid, (SELECT customer_id FROM {0}.mail_orders"
            " WHERE order_id = %s)) AS id) c"
            " LEFT JOIN {0}.mail_recipients r ON r.customer_id = c.id"
            " ON CONFLICT (key) DO NOTHING"
        ).format(sql.Identifier(schema)),
        (
            key,
            MAIL_KINDS[type(event)],
            env.aggregate_id,
            env.aggregate_version,
            env.notification_id,
            order_id,
            orjson.dumps(facts).decode(),
            # The request the mail goes back to (it travels in the mail's headers).
            env.correlation_id,
            ERASED,
            ERASED,
            customer_id,
            order_id,
        ),
    )


def on_registered(cur: Cursor[Any], schema: str, env: Envelope, e: CustomerRegistered) -> None:
    cur.execute(
        sql.SQL(
            "INSERT INTO {}.mail_recipients (customer_id, email, name) VALUES (%s, %s, %s)"
            " ON CONFLICT (customer_id) DO UPDATE SET email = EXCLUDED.email,"
            " name = EXCLUDED.name"
        ).format(sql.Identifier(schema)),
        (env.aggregate_id, e.email, e.name),
    )
    owe(cur, schema, env, e, customer_id=env.aggregate_id)


def _recipient(cur: Cursor[Any], schema: str, env: Envelope, column: str, value: str) -> None:
    cur.execute(
        sql.SQL("UPDATE {}.mail_recipients SET {} = %s WHERE customer_id = %s").format(
            sql.Identifier(schema), sql.Identifier(column)
        ),
        (value, env.aggregate_id),
    )


def on_renamed(cur: Cursor[Any], schema: str, env: Envelope, e: CustomerRenamed) -> None:
    _recipient(cur, schema, env, "name", e.name)


def on_email_changed(cur: Cursor[Any], schema: str, env: Envelope, e: CustomerEmailChanged) -> None:
    _recipient(cur, schema, env, "email", e.email)


def on_erased(cur: Cursor[Any], schema: str, env: Envelope, e: CustomerErased) -> None:
    """Forget them here too: the recipient reads "erased", mail not yet sent is discarded,
    and what the outbox kept of sent mail (address, subject) is scrubbed."""
    s = sql.Identifier(schema)
    cur.execute(
        sql.SQL(
            "UPDATE {}.mail_recipients SET email = %s, name = %s WHERE customer_id = %s"
        ).format(s),
        (ERASED, ERASED, env.aggregate_id),
    )
    cur.execute(
        sql.SQL(
            "UPDATE {}.mail_outbox SET state = CASE WHEN state IN ('pending', 'dead')"
            " THEN 'discarded' ELSE state END, last_error = CASE WHEN state IN ('pending',"
            " 'dead') THEN 'customer erased' ELSE NULL END,"
            " recipient = CASE WHEN recipient IS NULL THEN NULL ELSE %s END,"
            " subject = CASE WHEN subject IS NULL THEN NULL ELSE %s END WHERE customer_id = %s"
        ).format(s),
        (ERASED, ERASED, env.aggregate_id),
    )


def on_order_placed(cur: Cursor[Any], schema: str, env: Envelope, e: OrderPlaced) -> None:
    lines = [line.model_dump(mode="json") for line in e.lines]
    cur.execute(
        sql.SQL(
            "INSERT INTO {}.mail_orders (order_id, customer_id, lines, total)"
            " VALUES (%s, %s, %s::jsonb, %s) ON CONFLICT (order_id) DO NOTHING"
        ).format(sql.Identifier(schema)),
        (env.aggregate_id, e.customer_id, orjson.dumps(lines).decode(), e.total),
    )


def on_order_paid(cur: Cursor[Any], schema: str, env: Envelope, e: OrderPaid) -> None:
    owe(cur, schema, env, e, order_id=env.aggregate_id, paid=e.amount)


def on_order_shipped(cur: Cursor[Any], schema: str, env: Envelope, e: OrderShipped) -> None:
    owe(cur, schema, env, e, order_id=env.aggregate_id)


def on_order_cancelled(cur: Cursor[Any], schema: str, env: Envelope, e: OrderCancelled) -> None:
    owe(
        cur,
        schema,
        env,
        e,
        order_id=env.aggregate_id,
        reason=e.reason,
        refunded=e.refunded,
    )


HANDLERS: dict[type[ContractEvent], Any] = {
    CustomerRegistered: on_registered,
    CustomerRenamed: on_renamed,
    CustomerEmailChanged: on_email_changed,
    CustomerErased: on_erased,
    OrderPlaced: on_order_placed,
    OrderPaid: on_order_paid,
    OrderShipped: on_order_shipped,
    OrderCancelled: on_order_cancelled,
}
"""The intake's handlers by event type, ``handler(cursor, schema, envelope, event)``."""
