"""The ``orders`` read model's tables, at the table version
``contracts.readmodels.TABLE_VERSIONS`` names.

**Never edit these for a live installation without bumping that version**: the migration
creates missing tables but never alters existing ones; a new version is installed by
``eventshop projections rebuild`` (blue/green), see docs/operations.md.
"""

from __future__ import annotations

#: What a rebuild replaces: the tables this projection alone writes.
TABLES: tuple[str, ...] = ("orders", "order_lines", "order_customers", "order_products")

DDL: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS {schema}.orders (
            id uuid PRIMARY KEY,
            customer_id uuid NOT NULL,
            status text NOT NULL,
            total bigint NOT NULL,
            payment_status text NOT NULL,
            paid_amount bigint NOT NULL DEFAULT 0,
            refunded bigint NOT NULL DEFAULT 0,
            placed_at timestamptz NOT NULL,
            paid_at timestamptz,
            shipped_at timestamptz,
            cancelled_at timestamptz,
            cancel_reason text NOT NULL DEFAULT '',
            version int NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS orders_by_customer ON {schema}.orders"
    " (customer_id, placed_at DESC, id DESC)",
    "CREATE INDEX IF NOT EXISTS orders_by_time ON {schema}.orders (placed_at DESC, id DESC)",
    """CREATE TABLE IF NOT EXISTS {schema}.order_lines (
            order_id uuid NOT NULL,
            position int NOT NULL,
            product_id uuid NOT NULL,
            sku text NOT NULL,
            title text NOT NULL,
            quantity int NOT NULL,
            unit_price bigint NOT NULL,
            PRIMARY KEY (order_id, position))""",
    # What the orders view shows of customers and products now (a rename reaches old
    # orders).
    """CREATE TABLE IF NOT EXISTS {schema}.order_customers (
            customer_id uuid PRIMARY KEY,
            name text NOT NULL,
            email text NOT NULL,
            version int NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS {schema}.order_products (
            product_id uuid PRIMARY KEY,
            sku text NOT NULL,
            title text NOT NULL,
            version int NOT NULL)""",
)
