"""The event store's configuration: the library's settings for PostgreSQL, and our recorder's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from psycopg import Connection
from psycopg.conninfo import conninfo_to_dict

from write_side.persistence.outages import DatabaseBreaker
from write_side.persistence.recorder import IdempotentPostgresRecorder


def event_store_env(
    database_url: str, schema: str, *, create_table: bool = False, pool_size: int = 4
) -> dict[str, str]:
    """The ``eventsourcing`` settings for PostgreSQL at ``database_url`` in ``schema``."""
    params: dict[str, Any] = conninfo_to_dict(database_url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(params.get("dbname", "postgres")),
        "POSTGRES_HOST": str(params.get("host", "127.0.0.1")),
        "POSTGRES_PORT": str(params.get("port", "5432")),
        "POSTGRES_USER": str(params.get("user", "postgres")),
        "POSTGRES_PASSWORD": str(params.get("password", "")),
        "POSTGRES_SCHEMA": schema,
        # Inserts take an EXCLUSIVE table lock; never wait for it forever.
        "POSTGRES_LOCK_TIMEOUT": "5",
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": str(pool_size),
        "POSTGRES_PRE_PING": "y",
        # How long a command waits for a pool connection: the pool's own reconnection
        # keeps failing while the database is down, and a request must answer 503 well
        # inside a client's timeout instead of waiting the library's default 30 s.
        "POSTGRES_CONNECT_TIMEOUT": "3",
        # Keep recently used aggregates and read only their newer events: without it a
        # product with thousands of stock movements is replayed in full on every command.
        "AGGREGATE_CACHE_MAXSIZE": "10000",
        "AGGREGATE_CACHE_FASTFORWARD": "y",
        # A table of snapshots (shop_snapshots) beside the events: see snapshots.py.
        "IS_SNAPSHOTTING_ENABLED": "y",
        "CREATE_TABLE": "y" if create_table else "n",
        # Writes Idempotency-Key rows in the same transaction as the events.
        "APPLICATION_RECORDER_TOPIC": f"{IdempotentPostgresRecorder.__module__}:"
        f"{IdempotentPostgresRecorder.__qualname__}",
    }


def configure_recorder(
    recorder: object,
    retention_seconds: float,
    pool_check: Callable[[Connection[Any]], None] | None = None,
) -> None:
    """What the event store's recorder needs beyond the library's settings: how long it
    keeps idempotency keys, the breaker that fails requests fast while the database is
    down (outages.py), and ``pool_check``: how its pool makes sure of a connection before
    handing it out, in place of the library's pre-ping (an empty query per checkout). An
    in-memory recorder (unit tests) needs none of them."""
    if isinstance(recorder, IdempotentPostgresRecorder):
        recorder.retention_seconds = retention_seconds
        DatabaseBreaker().guard(recorder.datastore)
        if pool_check is not None:
            # psycopg_pool takes ``check`` only when built, and the library builds the pool.
            recorder.datastore.pool._check = pool_check
