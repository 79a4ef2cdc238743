"""The ``customers`` read model: profile, role and order statistics."""

from __future__ import annotations

from typing import Any

from psycopg import Cursor, sql

from contracts.envelope import Envelope
from contracts.events import (
    ContractEvent,
    CustomerEmailChanged,
    CustomerRegistered,
    CustomerRenamed,
)
from projections.projection import Projection


def on_registered(cur: Cursor[Any], schema: str, env: Envelope, e: CustomerRegistered) -> None:
    cur.execute(
        sql.SQL(
            "INSERT INTO {}.customers (id, email, name, role, version, registered_at, updated_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING"
        ).format(sql.Identifier(schema)),
        (
            env.aggregate_id,
            e.email,
            e.name,
            e.role,
            env.aggregate_version,
            e.occurred_at,
            e.occurred_at,
        ),
    )


def _update(
    cur: Cursor[Any], schema: str, env: Envelope, e: ContractEvent, *, column: str, value: str
) -> None:
    # The version guard makes a replayed event a no-op even past the position check.
    cur.execute(
        sql.SQL(
            "UPDATE {}.customers SET {} = %s, version = %s, updated_at = %s"
            " WHERE id = %s AND version < %s"
        ).format(sql.Identifier(schema), sql.Identifier(column)),
        (value, env.aggregate_version, e.occurred_at, env.aggregate_id, env.aggregate_version),
    )


def on_renamed(cur: Cursor[Any], schema: str, env: Envelope, e: CustomerRenamed) -> None:
    _update(cur, schema, env, e, column="name", value=e.name)


def on_email_changed(cur: Cursor[Any], schema: str, env: Envelope, e: CustomerEmailChanged) -> None:
    _update(cur, schema, env, e, column="email", value=e.email)


CUSTOMERS = Projection(
    "customers",
    {
        CustomerRegistered: on_registered,
        CustomerRenamed: on_renamed,
        CustomerEmailChanged: on_email_changed,
    },
)
