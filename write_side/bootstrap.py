"""Composition of the write side from explicit arguments; no environment reading here."""

from __future__ import annotations

from typing import Any

from psycopg.conninfo import conninfo_to_dict

from write_side.application import Shop
from write_side.idempotency import IdempotentPostgresRecorder
from write_side.outages import DatabaseBreaker
from write_side.payments import PaymentGateway
from write_side.security import Argon2Passwords, HashCost


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
        "CREATE_TABLE": "y" if create_table else "n",
        # Writes Idempotency-Key rows in the same transaction as the events.
        "APPLICATION_RECORDER_TOPIC": "write_side.idempotency:IdempotentPostgresRecorder",
    }


def build_shop(
    *,
    database_url: str,
    schema: str,
    token_key: bytes,
    topic_prefix: str = "",
    pool_size: int = 4,
    hash_cost: HashCost | None = None,
    hash_concurrency: int = 2,
    idempotency_retention_seconds: float = 86400.0,
    gateway: PaymentGateway | None = None,
) -> Shop:
    shop = Shop(
        event_store_env(database_url, schema, pool_size=pool_size),
        topic_prefix=topic_prefix,
        token_key=token_key,
        passwords=Argon2Passwords(hash_cost or HashCost(), max_concurrent=hash_concurrency),
        gateway=gateway,
    )
    if isinstance(shop.recorder, IdempotentPostgresRecorder):
        shop.recorder.retention_seconds = idempotency_retention_seconds
        DatabaseBreaker().guard(shop.recorder.datastore)
    return shop
