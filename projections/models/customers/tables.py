"""The ``customers`` read model's tables, at the table version
``contracts.readmodels.TABLE_VERSIONS`` names.

**Never edit these for a live installation without bumping that version**: the migration
creates missing tables but never alters existing ones; a new version is installed by
``eventshop projections rebuild`` (blue/green), see docs/operations.md.
"""

from __future__ import annotations

#: What a rebuild replaces: the tables this projection alone writes.
TABLES: tuple[str, ...] = ("customers", "customer_orders", "customer_order_stats")

DDL: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS {schema}.customers (
            id uuid PRIMARY KEY,
            email text NOT NULL,
            name text NOT NULL,
            role text NOT NULL,
            version int NOT NULL,
            registered_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL)""",
    # Order statistics per customer, kept apart from the profile: order events and
    # customer events arrive on different topics, in any relative order.
    """CREATE TABLE IF NOT EXISTS {schema}.customer_orders (
            order_id uuid PRIMARY KEY,
            customer_id uuid NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS {schema}.customer_order_stats (
            customer_id uuid PRIMARY KEY,
            order_count int NOT NULL DEFAULT 0,
            lifetime_value bigint NOT NULL DEFAULT 0,
            last_order_at timestamptz)""",
)
