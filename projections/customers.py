"""The ``customers`` read model: profile, role and order statistics."""

from __future__ import annotations

from typing import Any

from psycopg import Cursor, sql

from contracts.envelope import Envelope
from contracts.events import CustomerRegistered
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


CUSTOMERS = Projection("customers", {CustomerRegistered: on_registered})
