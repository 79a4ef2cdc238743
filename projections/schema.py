"""Read-model schema and the query role's privileges, applied by an explicit migration."""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from psycopg import sql

from contracts.bookkeeping import MIGRATE_LOCK, MODEL_VERSIONS_TABLE, POSITIONS_TABLE
from contracts.readmodels import TABLE_VERSIONS
from projections.registry import PROJECTIONS

log = logging.getLogger(__name__)

#: Tables every projection shares (positions, versions, parked events, operator records).
#: They are small; their upgrades are appended as idempotent statements.
BOOKKEEPING_DDL = [
    """CREATE TABLE IF NOT EXISTS {schema}.{positions} (
        projection text NOT NULL,
        topic text NOT NULL,
        partition int NOT NULL,
        notification_id bigint NOT NULL DEFAULT 0,
        applied bigint NOT NULL DEFAULT 0,
        duplicates bigint NOT NULL DEFAULT 0,
        skipped bigint NOT NULL DEFAULT 0,
        dead_lettered bigint NOT NULL DEFAULT 0,
        last_published_at timestamptz,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (projection, topic, partition))""",
    """CREATE TABLE IF NOT EXISTS {schema}.projection_aggregates (
        projection text NOT NULL,
        aggregate_id uuid NOT NULL,
        version int NOT NULL,
        PRIMARY KEY (projection, aggregate_id))""",
    """CREATE TABLE IF NOT EXISTS {schema}.projection_parked (
        projection text NOT NULL,
        aggregate_id uuid NOT NULL,
        version int NOT NULL,
        notification_id bigint NOT NULL,
        event_type text NOT NULL,
        schema_version int NOT NULL,
        payload bytea NOT NULL,
        topic text NOT NULL,
        partition int NOT NULL,
        kafka_offset bigint NOT NULL,
        parked_at timestamptz NOT NULL,
        PRIMARY KEY (projection, aggregate_id, version))""",
    "ALTER TABLE {schema}.{positions} ADD COLUMN IF NOT EXISTS relay_epoch int NOT NULL DEFAULT 0",
    "ALTER TABLE {schema}.{positions} ADD COLUMN IF NOT EXISTS rewinds bigint NOT NULL DEFAULT 0",
    "ALTER TABLE {schema}.{positions} ADD COLUMN IF NOT EXISTS parked bigint NOT NULL DEFAULT 0",
    "ALTER TABLE {schema}.{positions}"
    " ADD COLUMN IF NOT EXISTS kafka_offset bigint NOT NULL DEFAULT -1",
    "ALTER TABLE {schema}.{positions}"
    " ADD COLUMN IF NOT EXISTS high_watermark bigint NOT NULL DEFAULT 0",
    # Sequenced dead letters and schema versions ahead park like a gap, with a reason.
    "ALTER TABLE {schema}.projection_parked"
    " ADD COLUMN IF NOT EXISTS reason text NOT NULL DEFAULT 'gap'",
    "ALTER TABLE {schema}.projection_parked ADD COLUMN IF NOT EXISTS error_class text",
    "ALTER TABLE {schema}.projection_parked ADD COLUMN IF NOT EXISTS error text",
    # What operators decided about dead-lettered records (eventshop dlq replay|discard);
    # the records themselves stay on the dead-letter topics.
    """CREATE TABLE IF NOT EXISTS {schema}.dead_letter_resolutions (
        dlt_topic text NOT NULL,
        partition int NOT NULL,
        kafka_offset bigint NOT NULL,
        projection text NOT NULL,
        notification_id bigint,
        resolution text NOT NULL CHECK (resolution IN ('replayed', 'discarded')),
        note text NOT NULL DEFAULT '',
        resolved_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (dlt_topic, partition, kafka_offset))""",
    # Sequenced dead letters released by `eventshop dlq replay|discard` (or by a rebuild).
    """CREATE TABLE IF NOT EXISTS {schema}.dead_letter_releases (
        projection text NOT NULL,
        notification_id bigint NOT NULL,
        resolution text NOT NULL CHECK (resolution IN ('replayed', 'discarded')),
        note text NOT NULL DEFAULT '',
        released_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (projection, notification_id))""",
    # Projector instances and the partitions each holds, with a heartbeat.
    """CREATE TABLE IF NOT EXISTS {schema}.projector_instances (
        projection text NOT NULL,
        instance text NOT NULL,
        member_id text NOT NULL DEFAULT '',
        partitions text[] NOT NULL DEFAULT '{{}}',
        heartbeat_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (projection, instance))""",
    # The table version each read model's live tables have, and what is happening to them.
    """CREATE TABLE IF NOT EXISTS {schema}.{model_versions} (
        projection text PRIMARY KEY,
        table_version int NOT NULL,
        state text NOT NULL DEFAULT 'live',
        updated_at timestamptz NOT NULL DEFAULT now())""",
    # A rebuild's progress (events folded of those it found), for the ops page.
    "ALTER TABLE {schema}.{model_versions} ADD COLUMN IF NOT EXISTS rebuild_done bigint",
    "ALTER TABLE {schema}.{model_versions} ADD COLUMN IF NOT EXISTS rebuild_total bigint",
]

#: Each read model's DDL, from its package (``projections/<name>/tables.py``).
MODEL_DDL: dict[str, list[str]] = {name: list(p.ddl) for name, p in PROJECTIONS.items()}


def create_model_tables(
    conn: psycopg.Connection[Any], name: str, schema: str, *, indexes: bool = True
) -> None:
    """Create read model ``name``'s tables, at the code's table version, in ``schema``;
    ``indexes=False`` leaves out the secondary indexes, for :func:`create_model_indexes`
    (a rebuild's shadow builds them once, at the end: maintained row by row, the products'
    six, GIN among them, cost more than the folding)."""
    for statement in MODEL_DDL[name]:
        if indexes or not _is_index(statement):
            conn.execute(sql.SQL(statement).format(schema=sql.Identifier(schema)))


def create_model_indexes(conn: psycopg.Connection[Any], name: str, schema: str) -> None:
    """The secondary indexes :func:`create_model_tables` left out (``IF NOT EXISTS``: a
    resumed rebuild may have them already)."""
    for statement in MODEL_DDL[name]:
        if _is_index(statement):
            conn.execute(sql.SQL(statement).format(schema=sql.Identifier(schema)))


def _is_index(statement: str) -> bool:
    return statement.lstrip().upper().startswith("CREATE INDEX")


def live_table_version(conn: psycopg.Connection[Any], schema: str, name: str) -> int | None:
    row = conn.execute(
        sql.SQL("SELECT table_version FROM {} WHERE projection = %s").format(
            sql.Identifier(schema, MODEL_VERSIONS_TABLE)
        ),
        (name,),
    ).fetchone()
    return int(row[0]) if row else None


def migrate_read_models(
    database_url: str, schema: str, query_role: str, query_role_password: str | None = None
) -> dict[str, tuple[int, int]]:
    """Create the read-model tables and a role that may only SELECT them.

    Returns the read models whose live tables are at another table version than this
    code's, as ``{name: (live, code)}``: they are left alone until rebuilt.
    """
    outdated: dict[str, tuple[int, int]] = {}
    ident = sql.Identifier(schema)
    role = sql.Identifier(query_role)
    with psycopg.connect(database_url, autocommit=True) as conn:
        # Serialize concurrent migrations (several test workers, several replicas).
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (MIGRATE_LOCK,))
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(ident))
        for statement in BOOKKEEPING_DDL:
            conn.execute(
                sql.SQL(statement).format(
                    schema=ident,
                    positions=sql.Identifier(POSITIONS_TABLE),
                    model_versions=sql.Identifier(MODEL_VERSIONS_TABLE),
                )
            )
        for name in MODEL_DDL:
            stale = _migrate_model(conn, schema, name)
            if stale is not None:
                outdated[name] = stale
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (query_role,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(role))
        if query_role_password:
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(role, sql.Literal(query_role_password))
            )
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(ident, role))
        conn.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(ident, role))
        conn.execute(
            sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT ON TABLES TO {}").format(
                ident, role
            )
        )
        conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (MIGRATE_LOCK,))
    return outdated


def _migrate_model(conn: psycopg.Connection[Any], schema: str, name: str) -> tuple[int, int] | None:
    wanted = TABLE_VERSIONS[name]
    live = live_table_version(conn, schema, name)
    if live is None:
        # A new installation (or one from before table versions were recorded: its tables
        # are the first version).
        existed = conn.execute(
            "SELECT to_regclass(%s) IS NOT NULL", (f'"{schema}"."{PROJECTIONS[name].tables[0]}"',)
        ).fetchone()
        live = 1 if existed and existed[0] else wanted
        conn.execute(
            sql.SQL("INSERT INTO {} (projection, table_version) VALUES (%s, %s)").format(
                sql.Identifier(schema, MODEL_VERSIONS_TABLE)
            ),
            (name, live),
        )
    if live != wanted:
        log.warning(
            "read model %s: live tables are version %d, this code's are %d; left as they are"
            " until `eventshop projections rebuild %s` installs them",
            name,
            live,
            wanted,
            name,
        )
        return live, wanted
    create_model_tables(conn, name, schema)
    return None
