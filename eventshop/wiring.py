"""Build each process's parts from :class:`Settings`: the one place settings meet code."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from contracts.auth import MIN_SECRET_BYTES, TokenSettings, weak_secret
from eventshop.settings import Settings
from projections.consumer import KafkaProjector
from projections.projection import Projection
from projections.rebuild import Rebuilder
from projections.registry import PROJECTIONS
from projections.schema import migrate_read_models
from read_side.bootstrap import build_query_app
from write_side.application import Shop
from write_side.bootstrap import build_shop
from write_side.command_api import create_command_app
from write_side.domain.errors import EmailTakenError
from write_side.migrations import EVENTS_TABLE, migrate_event_store
from write_side.payment_sweeper import PaymentSweeper
from write_side.relay import KafkaRelay
from write_side.security import HashCost


class NotConfiguredError(RuntimeError):
    """A server URL is missing and this command does not start embedded servers."""


def database_url(settings: Settings) -> str:
    if not settings.database_url:
        raise NotConfiguredError(
            "EVENTSHOP_DATABASE_URL is not set (`eventshop run` starts embedded servers)"
        )
    return settings.database_url


def read_database_url(settings: Settings) -> str:
    """The query API's URL: configured, or the main URL logged in as the query role."""
    if settings.read_database_url:
        return settings.read_database_url
    params: dict[str, Any] = conninfo_to_dict(database_url(settings))
    params.pop("password", None)
    params["user"] = settings.query_role
    return make_conninfo(**params)


def kafka(settings: Settings) -> str:
    if not settings.kafka_bootstrap_servers:
        raise NotConfiguredError(
            "EVENTSHOP_KAFKA_BOOTSTRAP_SERVERS is not set (`eventshop run` starts a broker)"
        )
    return settings.kafka_bootstrap_servers


def migrate(settings: Settings) -> dict[str, tuple[int, int]]:
    """Both schemas; returns the read models waiting for a rebuild (``{name: (live, code)}``)."""
    url = database_url(settings)
    migrate_event_store(url, settings.event_schema)
    password = settings.query_role_password
    return migrate_read_models(
        url,
        settings.read_schema,
        settings.query_role,
        password.get_secret_value() if password else None,
    )


def tokens(settings: Settings) -> TokenSettings:
    """Token settings; outside development a default or short secret stops the start."""
    token_settings = settings.token_settings()
    if settings.env == "production" and weak_secret(token_settings.secret):
        raise NotConfiguredError(
            f"EVENTSHOP_JWT_SECRET must be set to a random secret of at least "
            f"{MIN_SECRET_BYTES} bytes in production"
        )
    return token_settings


def shop(settings: Settings, pool_size: int = 4) -> Shop:
    return build_shop(
        database_url=database_url(settings),
        schema=settings.event_schema,
        topic_prefix=settings.topic_prefix,
        pool_size=pool_size,
        hash_cost=HashCost(
            settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism
        ),
    )


def command_app(settings: Settings) -> FastAPI:
    return create_command_app(shop(settings), tokens(settings))


def payment_sweeper(settings: Settings) -> PaymentSweeper:
    return PaymentSweeper(
        shop(settings, pool_size=1), settle_after_seconds=settings.payment_settle_after_seconds
    )


def rebuilder(settings: Settings, name: str, batch_size: int = 10_000) -> Rebuilder:
    if name not in PROJECTIONS:
        raise NotConfiguredError(f"unknown projection: {name}")
    return Rebuilder(
        PROJECTIONS[name],
        database_url=database_url(settings),
        read_schema=settings.read_schema,
        event_schema=settings.event_schema,
        events_table=EVENTS_TABLE,
        query_role=settings.query_role,
        topic_prefix=settings.topic_prefix,
        batch_size=batch_size,
    )


def create_admin(settings: Settings, email: str, password: str) -> bool:
    """Register an admin; False if the email is taken already (then nothing changes)."""
    admin_shop = shop(settings, pool_size=1)
    try:
        admin_shop.register_customer(
            email=email, name="Administrator", password=password, role="admin"
        )
    except EmailTakenError:
        return False
    finally:
        admin_shop.close()
    return True


def query_app(settings: Settings) -> FastAPI:
    return build_query_app(
        read_database_url=read_database_url(settings),
        tokens=tokens(settings),
        schema=settings.read_schema,
        topic_prefix=settings.topic_prefix,
        consistency_wait_seconds=settings.consistency_wait_seconds,
    )


def relay(settings: Settings) -> KafkaRelay:
    return KafkaRelay(
        event_store=shop(settings, pool_size=1),
        database_url=database_url(settings),
        schema=settings.event_schema,
        bootstrap_servers=kafka(settings),
        topic_prefix=settings.topic_prefix,
    )


def projectors(settings: Settings, names: list[str] | None = None) -> list[KafkaProjector]:
    unknown = set(names or ()) - set(PROJECTIONS)
    if unknown:
        raise NotConfiguredError(f"unknown projection(s): {', '.join(sorted(unknown))}")
    return [projector(settings, PROJECTIONS[name]) for name in (names or list(PROJECTIONS))]


def projector(settings: Settings, projection: Projection) -> KafkaProjector:
    return KafkaProjector(
        projection=projection,
        database_url=database_url(settings),
        schema=settings.read_schema,
        bootstrap_servers=kafka(settings),
        topic_prefix=settings.topic_prefix,
        group_prefix=settings.consumer_group_prefix,
        session_timeout_ms=settings.kafka_session_timeout_ms,
    )
