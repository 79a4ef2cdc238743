"""The ``products`` read model's tables, at the table version
``contracts.readmodels.TABLE_VERSIONS`` names.

**Never edit these for a live installation without bumping that version**: the migration
creates missing tables but never alters existing ones; a new version is installed by
``eventshop projections rebuild`` (blue/green), see docs/operations.md.
"""

from __future__ import annotations

#: What a rebuild replaces: the tables this projection alone writes.
TABLES: tuple[str, ...] = ("products",)

DDL: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS {schema}.products (
            id uuid PRIMARY KEY,
            sku text NOT NULL,
            title text NOT NULL,
            description text NOT NULL,
            categories text[] NOT NULL,
            -- Version 1's one category (the first label), kept so a query API of the
            -- previous release still reads these tables during a rolling deploy.
            category text GENERATED ALWAYS AS (coalesce(categories[1], '')) STORED,
            -- The labels as one text, for the search vector (array_to_string is not
            -- immutable, so a generated column cannot call it).
            category_words text NOT NULL,
            price bigint NOT NULL,
            status text NOT NULL,
            on_hand bigint NOT NULL DEFAULT 0,
            reserved bigint NOT NULL DEFAULT 0,
            units_sold bigint NOT NULL DEFAULT 0,
            version int NOT NULL,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            search tsvector GENERATED ALWAYS AS
                (setweight(to_tsvector('english', title), 'A') ||
                 setweight(to_tsvector('english', category_words), 'B') ||
                 setweight(to_tsvector('english', description), 'C')) STORED)""",
    "CREATE INDEX IF NOT EXISTS products_search ON {schema}.products USING gin (search)",
    "CREATE INDEX IF NOT EXISTS products_by_category ON {schema}.products USING gin (categories)",
    "CREATE INDEX IF NOT EXISTS products_by_price ON {schema}.products (price, id)",
    # One per sort of the catalog search and for the low-stock report, so no page reads the
    # whole catalog (tests/integration/test_query_plans.py). Indexes, not shape: migrate
    # adds them to live tables without a new table version.
    "CREATE INDEX IF NOT EXISTS products_by_sku ON {schema}.products (sku, id)",
    "CREATE INDEX IF NOT EXISTS products_by_title ON {schema}.products (title, id)",
    "CREATE INDEX IF NOT EXISTS products_by_units_sold"
    " ON {schema}.products (units_sold DESC, id DESC)",
    "CREATE INDEX IF NOT EXISTS products_low_stock"
    " ON {schema}.products ((on_hand - reserved), sku) WHERE status = 'published'",
)
