"""Build each process's parts from :class:`Settings`: the one place settings meet code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
from fastapi import FastAPI
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from contracts.bookkeeping import EVENTS_CHANNEL
from contracts.consistency import token_key
from contracts.reactions import REACTOR_SOURCES
from eventshop.settings import Settings
from http_edge.liveness import check_idle
from http_edge.rate_limits import PostgresRateLimiter, migrate_rate_limits
from http_edge.tokens import MIN_SECRET_BYTES, TokenSettings, weak_secret
from projections.event_store_head import install_event_store_head
from projections.groups import processing_groups
from projections.live.consumer import KafkaProjector
from projections.live.wakeups import Wakeups
from projections.projection import Effects, Projection
from projections.rebuild.rebuilder import BATCH_EVENTS, Rebuilder
from projections.registry import PROJECTIONS
from projections.schema import migrate_read_models
from reactors import mail_intake
from reactors.mail_tables import migrate_mail_tables
from reactors.mailer import SmtpMailer
from reactors.outbox_pruning import pruned_through as mail_pruned_through
from reactors.sender import MailSender
from read_side.http.app import create_query_app
from read_side.http.validators import CatalogCache
from write_side.application.passwords import Argon2Passwords, HashCost
from write_side.application.shop import Shop
from write_side.domain.errors import EmailTakenError
from write_side.gateway.breaker import BreakingGateway
from write_side.gateway.http_adapter import HttpPaymentGateway
from write_side.gateway.port import FakePaymentGateway, PaymentGateway
from write_side.http.app import create_command_app
from write_side.persistence.event_store import configure_recorder, event_store_env
from write_side.persistence.migrations import EVENTS_TABLE, migrate_event_store
from write_side.processes.order_expiry import OrderExpiry
from write_side.processes.payment_sweeper import PaymentSweeper
from write_side.relay.publisher import KafkaRelay


class NotConfiguredError(RuntimeError):
    """A server URL is missing and this command does not start embedded servers."""


def database_url(settings: Settings) -> str:
    if not settings.database_url:
        raise NotConfiguredError(
            "EVENTSHOP_DATABASE_URL is not set, and no `eventshop run` is running in this"
            f" directory ({settings.data_dir}/runtime.json); start one, or set the URL"
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
            "EVENTSHOP_KAFKA_BOOTSTRAP_SERVERS is not set, and no `eventshop run` is running"
            f" in this directory ({settings.data_dir}/runtime.json); start one, or set it"
        )
    return settings.kafka_bootstrap_servers


def migrate(settings: Settings) -> dict[str, tuple[int, int]]:
    """Both schemas; returns the read models waiting for a rebuild (``{name: (live, code)}``)."""
    url = database_url(settings)
    migrate_event_store(url, settings.event_schema)
    password = settings.query_role_password
    outdated = migrate_read_models(
        url,
        settings.read_schema,
        settings.query_role,
        password.get_secret_value() if password else None,
    )
    install_event_store_head(
        url, settings.read_schema, settings.event_schema, EVENTS_TABLE, settings.query_role
    )
    with psycopg.connect(url, autocommit=True) as conn:
        migrate_rate_limits(conn, settings.read_schema, settings.query_role)
        migrate_mail_tables(conn, settings.read_schema, settings.query_role)
    return outdated


def on_embedded_servers(settings: Settings) -> bool:
    """True only for the development stack `eventshop run` starts: PostgreSQL on a socket
    in this checkout's data directory, and a broker on loopback."""
    if not settings.database_url or not settings.kafka_bootstrap_servers:
        return False
    host = str(conninfo_to_dict(settings.database_url).get("host", ""))
    socket_dir = (settings.data_dir / "pg").resolve()
    brokers = [b.strip().rsplit(":", 1)[0] for b in settings.kafka_bootstrap_servers.split(",")]
    return (
        host.startswith("/")
        and Path(host).resolve() == socket_dir
        and all(b in {"127.0.0.1", "localhost"} for b in brokers)
    )


def tokens(settings: Settings) -> TokenSettings:
    """Token settings. The development secret (or any under 32 bytes) is refused by every
    process that is not on the embedded development servers, whatever EVENTSHOP_ENV says."""
    token_settings = settings.token_settings()
    weak = weak_secret(token_settings.secret)
    if weak and (settings.env == "production" or not on_embedded_servers(settings)):
        raise NotConfiguredError(
            f"EVENTSHOP_JWT_SECRET must be a random secret of at least {MIN_SECRET_BYTES}"
            " bytes (the development default works only on the embedded servers of"
            " `eventshop run`); for example: python -c 'import secrets;"
            " print(secrets.token_urlsafe(48))'"
        )
    return token_settings


def shop(settings: Settings, pool_size: int = 4) -> Shop:
    built = Shop(
        event_store_env(database_url(settings), settings.event_schema, pool_size=pool_size),
        topic_prefix=settings.topic_prefix,
        token_key=token_key(tokens(settings).secret),
        passwords=Argon2Passwords(
            HashCost(
                settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism
            ),
            max_concurrent=settings.password_hash_concurrency,
        ),
        gateway=payment_gateway(settings),
        snapshot_every=settings.snapshot_every,
        cache_max_bytes=settings.aggregate_cache_mib * 2**20,
    )
    configure_recorder(built.recorder, settings.idempotency_retention_seconds, check_idle)
    return built


def payment_gateway(settings: Settings) -> BreakingGateway:
    """The gateway every payment goes through, behind this process's circuit breaker."""
    inner: PaymentGateway = (
        HttpPaymentGateway(settings.gateway_url, timeout=settings.gateway_timeout_seconds)
        if settings.gateway_url
        else FakePaymentGateway()
    )
    return BreakingGateway(
        inner,
        failures=settings.gateway_breaker_failures,
        reset_seconds=settings.gateway_breaker_reset_seconds,
    )


def command_app(settings: Settings) -> FastAPI:
    limiter = None
    if settings.rate_limit_enabled:
        limiter = PostgresRateLimiter.with_own_pool(database_url(settings), settings.read_schema)
    return create_command_app(
        shop(settings), tokens(settings), edge=settings.edge_settings(), limiter=limiter
    )


def payment_sweeper(settings: Settings, on: Shop | None = None) -> PaymentSweeper:
    sweeping = on or shop(settings, pool_size=1)
    return PaymentSweeper(sweeping, settle_after_seconds=settings.payment_settle_after_seconds)


def order_expiry(settings: Settings, on: Shop | None = None) -> OrderExpiry:
    """The order process manager (write_side/processes/order_expiry.py), woken by NOTIFY."""
    url, timeout = database_url(settings), settings.order_payment_timeout_seconds
    manager = on or shop(settings, pool_size=1)
    news = Wakeups.for_database(url, (EVENTS_CHANNEL,))  # new orders arm timers
    return OrderExpiry(manager, url, settings.event_schema, timeout, news=news)


def rebuilder(settings: Settings, name: str, batch_size: int = BATCH_EVENTS) -> Rebuilder:
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
    return create_query_app(
        read_database_url=read_database_url(settings),
        tokens=tokens(settings),
        schema=settings.read_schema,
        topic_prefix=settings.topic_prefix,
        consistency_wait_seconds=settings.consistency_wait_seconds,
        max_waiters=settings.consistency_max_waiters,
        edge=settings.edge_settings(),
        catalog_cache=CatalogCache(
            settings.catalog_max_age_seconds, settings.catalog_stale_while_revalidate_seconds
        ),
        ops_login_url=settings.command_url or _local_url(settings, settings.command_port),
        news=Wakeups.of_batches(read_database_url(settings), settings.read_schema),
    )


def _local_url(settings: Settings, port: int) -> str:
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host  # noqa: S104
    return f"http://{host}:{port}"


def relay(settings: Settings) -> KafkaRelay:
    return KafkaRelay(
        event_store=shop(settings, pool_size=1),
        database_url=database_url(settings),
        schema=settings.event_schema,
        bootstrap_servers=kafka(settings),
        topic_prefix=settings.topic_prefix,
    )


def projectors(settings: Settings, names: list[str] | None = None) -> list[KafkaProjector]:
    """The named projections (all by default, and the mail intake unless the reactor runs
    it: EVENTSHOP_MAIL_INTAKE), in their processing groups."""
    known = {**PROJECTIONS, MAIL_INTAKE.name: MAIL_INTAKE}
    unknown = set(names or ()) - set(known)
    if unknown:
        raise NotConfiguredError(f"unknown projection(s): {', '.join(sorted(unknown))}")
    default = [*PROJECTIONS, *([MAIL_INTAKE.name] if settings.mail_intake == "projectors" else [])]
    chosen = [known[name] for name in (names or default)]
    return [projector(settings, *g) for g in processing_groups(chosen, settings.projector_groups)]


def projector(settings: Settings, *projections: Projection) -> KafkaProjector:
    return KafkaProjector(
        projections=projections,
        database_url=database_url(settings),
        schema=settings.read_schema,
        bootstrap_servers=kafka(settings),
        topic_prefix=settings.topic_prefix,
        group_prefix=settings.consumer_group_prefix,
        session_timeout_ms=settings.kafka_session_timeout_ms,
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
    )


#: The mail reactor's intake: its handlers on the projectors' consumer discipline.
MAIL_INTAKE = Projection(
    mail_intake.NAME,
    handlers=mail_intake.HANDLERS,
    sources=REACTOR_SOURCES[mail_intake.NAME],
    ignored=mail_intake.IGNORED,
    effects=Effects(
        mail_intake.EFFECTS_TABLE,
        mail_intake.owed_mail,
        frozenset(cls.type_name for cls in mail_intake.MAIL_KINDS),
        pruned_through=mail_pruned_through,
    ),
)


def mail_sender(settings: Settings) -> MailSender:
    if not settings.smtp_url:
        raise NotConfiguredError("EVENTSHOP_SMTP_URL is not set (eventshop run sets it)")
    return MailSender(
        database_url=database_url(settings),
        schema=settings.read_schema,
        mailer=SmtpMailer(settings.smtp_url),
        max_attempts=settings.mail_max_attempts,
        retention_seconds=settings.mail_retention_seconds,
        # The intake's outbox rows commit with a projector batch, which NOTIFYs positions.
        news=Wakeups.of_batches(database_url(settings), settings.read_schema),
    )
