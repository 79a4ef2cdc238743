"""The ``sales`` read model's tables, at the table version
``contracts.readmodels.TABLE_VERSIONS`` names.

**Never edit these for a live installation without bumping that version**: the migration
creates missing tables but never alters existing ones; a new version is installed by
``eventshop projections rebuild`` (blue/green), see docs/operations.md.
"""

from __future__ import annotations

#: What a rebuild replaces: the tables this projection alone writes.
TABLES: tuple[str, ...] = ("sales_by_day",)

DDL: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS {schema}.sales_by_day (
            day date PRIMARY KEY,
            orders_placed int NOT NULL DEFAULT 0,
            orders_paid int NOT NULL DEFAULT 0,
            revenue bigint NOT NULL DEFAULT 0,
            refunded bigint NOT NULL DEFAULT 0)""",
)
