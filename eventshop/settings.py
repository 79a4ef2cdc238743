"""Settings from ``EVENTSHOP_*`` environment variables (docs/configuration.md)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from http_edge.client import parse_networks
from http_edge.headers import HeaderPolicy
from http_edge.install import EdgeSettings
from http_edge.limits import LimitSettings
from http_edge.rate_limits import Policy
from http_edge.tokens import DEV_SECRET, TokenSettings


def half_the_cores() -> int:
    """`eventshop run`'s API workers per API: the two APIs take one per core between them,
    leaving the relay, projectors, reactor and servers room (docs/operations.md)."""
    return max(1, (os.cpu_count() or 1) // 2)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EVENTSHOP_", extra="ignore")

    env: Literal["development", "production"] = "development"
    #: Event store (and relay checkpoint) database; unset = embedded PostgreSQL.
    database_url: str | None = None
    #: The query API's SELECT-only connection; unset = the database URL with the
    #: ``query_role`` user (created by ``eventshop migrate``).
    read_database_url: str | None = None
    #: Kafka bootstrap servers; unset = the embedded Tansu broker.
    kafka_bootstrap_servers: str | None = None

    data_dir: Path = Path(".eventshop")
    event_schema: str = Field(default="eventstore", pattern=r"^[a-z_][a-z0-9_]{0,40}$")
    read_schema: str = Field(default="read_models", pattern=r"^[a-z_][a-z0-9_]{0,40}$")
    query_role: str = Field(default="eventshop_query", pattern=r"^[a-z_][a-z0-9_]{0,40}$")
    #: Set by ``eventshop migrate`` on the query role, for servers that need passwords.
    query_role_password: SecretStr | None = None
    topic_prefix: str = Field(default="", pattern=r"^[a-zA-Z0-9._-]{0,40}$")
    consumer_group_prefix: str = "eventshop"

    #: Processes per API that `eventshop run` supervises (they share each port). The two
    #: APIs share the machine with the rest of the stack: by default they take one worker
    #: per core between them (docs/operations.md, running as a fleet).
    api_workers: int = Field(default_factory=half_the_cores, ge=1, le=64)
    #: Projector processes per consumer group (the group spreads partitions over them);
    #: instance n's probe listens on PROJECTOR_PROBE_PORT + 10 n.
    projector_processes: int = Field(default=1, ge=1, le=16)
    #: Processing groups ("orders;customers,sales"); unnamed projections sharing a topic
    #: share a group (projections/groups.py).
    projector_groups: str = ""
    #: Where the mail reactor's intake consumes: in the projectors' processing groups (its
    #: topics read once for all), or in `eventshop react`, in a consumer group of its own.
    mail_intake: Literal["projectors", "reactor"] = "projectors"

    host: str = "127.0.0.1"
    command_port: int = 8000
    query_port: int = 8001
    #: /healthz, /readyz and /metrics of the processes without an HTTP API; 0 turns one off.
    relay_probe_port: int = 8002
    projector_probe_port: int = 8003
    sweeper_probe_port: int = 8004
    embedded_kafka_port: int = 19092

    #: How long a query with ``X-Consistency-Token`` waits before answering 503.
    consistency_wait_seconds: float = Field(default=2.0, gt=0, le=30)
    #: Queries one query-API process lets wait for a token at once; past it, 503.
    consistency_max_waiters: int = Field(default=256, ge=1, le=100_000)
    #: Anonymous catalog answers: ``Cache-Control: public, max-age=…`` (docs/operations.md).
    catalog_max_age_seconds: int = Field(default=5, ge=0, le=86_400)
    #: ``stale-while-revalidate=…`` on them; unset: twice the max age.
    catalog_stale_while_revalidate_seconds: int | None = Field(default=None, ge=0, le=86_400)
    kafka_session_timeout_ms: int = 6000
    #: Where mail goes: ``smtp://[user:password@]host[:port][?starttls=true]`` or
    #: ``smtps://…``; unset: `eventshop run` starts the development mailbox on
    #: ``smtp_port``, which keeps each message under ``<data_dir>/mail``.
    smtp_url: str | None = None
    smtp_port: int = 8025
    #: Where the query API's ops page checks a sign-in (the command API's base URL);
    #: unset: this host's ``command_port``.
    command_url: str | None = None
    #: The mail reactor's probes (/healthz, /readyz, /metrics).
    reactor_probe_port: int = 8006
    #: Each API worker's /metrics (and /healthz, /readyz): worker n listens on the base
    #: port + 10 n; 0 turns them off. Never on the public API ports.
    command_probe_port: int = 8007
    query_probe_port: int = 8008
    #: Attempts at a mail the server could not take now, before it is dead (the first
    #: retry after about a second, then doubling with jitter, capped at five minutes).
    mail_max_attempts: int = Field(default=8, ge=1, le=100)
    #: A settled mail's record (sent, rejected, discarded) is kept this long, then pruned.
    mail_retention_seconds: float = Field(default=30 * 86400.0, gt=0)
    #: An order not paid this long after it was placed is cancelled as expired.
    order_payment_timeout_seconds: float = Field(default=1800.0, gt=0, le=30 * 86400)
    #: The payment gateway's base URL; unset: an in-process fake (`eventshop run` starts
    #: `eventshop gateway fake` on ``gateway_port`` and points every process at it).
    gateway_url: str | None = None
    gateway_port: int = 8005
    gateway_timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    #: The circuit breaker: consecutive failures or timeouts that open it, and for how long.
    gateway_breaker_failures: int = Field(default=5, ge=1, le=1000)
    gateway_breaker_reset_seconds: float = Field(default=30.0, gt=0, le=3600)
    #: How long the broker may hold a projector's fetch that has no data; on Tansu, how long
    #: one that the relay's news finds in flight may keep a record waiting (docs/operations.md).
    kafka_fetch_max_wait_ms: int = Field(default=5, ge=1, le=5000)
    log_level: str = "INFO"

    #: Signs access tokens (HS256). Production refuses the development default and
    #: anything shorter than 32 bytes.
    jwt_secret: SecretStr = SecretStr(DEV_SECRET)
    jwt_issuer: str = "eventshop"
    jwt_audience: str = "eventshop-api"
    access_token_ttl_seconds: int = Field(default=3600, ge=60, le=86400)
    #: argon2id cost; lower it only for tests.
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=8)
    argon2_parallelism: int = Field(default=4, ge=1)

    #: A payment still ``started`` this long after its attempt is settled by the sweeper.
    payment_settle_after_seconds: float = Field(default=30.0, ge=0)

    #: Rate limits, counted in PostgreSQL so every API process shares them
    #: (docs/operations.md, "Hostile clients"). Per client (token subject, else address), each API:
    rate_limit_enabled: bool = True
    rate_limit_requests: int = Field(default=600, ge=1)
    rate_limit_window_seconds: int = Field(default=60, ge=1, le=86400)
    #: POST /customers per client address.
    register_limit: int = Field(default=10, ge=1)
    register_window_seconds: int = Field(default=600, ge=1, le=86400)
    #: POST /auth/token per client address; then, per account and client address, this many
    #: failures in the window delay that address's next try (http_edge/limits.py).
    login_limit: int = Field(default=30, ge=1)
    login_window_seconds: int = Field(default=60, ge=1, le=86400)
    login_max_failures: int = Field(default=5, ge=1)
    login_failure_window_seconds: int = Field(default=900, ge=1, le=86400)
    login_lockout_seconds: int = Field(default=900, ge=1, le=86400)
    #: The first delay after those failures from one address; it doubles with each further
    #: failure from there, up to ``login_lockout_seconds``. Other addresses are not delayed.
    login_first_delay_seconds: int = Field(default=30, ge=1, le=86400)
    #: Failures of one account from all addresses in the window that delay every address
    #: by ``login_account_delay_seconds`` (guessing spread over many addresses).
    login_account_max_failures: int = Field(default=100, ge=1)
    login_account_delay_seconds: int = Field(default=60, ge=1, le=3600)
    #: Comma-separated addresses or CIDRs whose ``X-Forwarded-For`` is believed.
    trusted_proxies: str = ""
    #: Password hashes (argon2, 64 MiB each) one API process computes at once; past it, 503.
    password_hash_concurrency: int = Field(default=2, ge=1, le=64)
    #: Comma-separated origins allowed by CORS; empty: no CORS headers at all.
    cors_origins: str = ""
    #: ``Strict-Transport-Security`` max-age when the APIs are served over TLS; 0: none.
    hsts_seconds: int = Field(default=0, ge=0)

    #: How long an Idempotency-Key is remembered; a key sent again later is a new request.
    idempotency_retention_seconds: float = Field(default=86400.0, gt=0)
    #: A long stream is snapshotted every this many versions (0: never); a cold load then
    #: replays at most this many events (docs/architecture.md, "Snapshots").
    snapshot_every: int = Field(default=500, ge=0)
    #: The write side's aggregate cache holds at most 10,000 aggregates and at most this
    #: many MiB of them, by estimate (write_side/persistence/aggregate_cache.py).
    aggregate_cache_mib: int = Field(default=256, ge=1)

    #: ``eventshop run`` creates this admin (or prints generated credentials).
    admin_email: str | None = None
    admin_password: SecretStr | None = None

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_networks(cls, value: str) -> str:
        parse_networks(_listed(value))  # a malformed address stops the start, clearly
        return value

    def edge_settings(self) -> EdgeSettings:
        return EdgeSettings(
            headers=HeaderPolicy(
                hsts_seconds=self.hsts_seconds, cors_origins=tuple(_listed(self.cors_origins))
            ),
            limits=LimitSettings(
                enabled=self.rate_limit_enabled,
                requests=Policy("api", self.rate_limit_requests, self.rate_limit_window_seconds),
                register=Policy("register", self.register_limit, self.register_window_seconds),
                login=Policy("login", self.login_limit, self.login_window_seconds),
                login_max_failures=self.login_max_failures,
                login_failure_window_seconds=self.login_failure_window_seconds,
                login_lockout_seconds=self.login_lockout_seconds,
                login_first_delay_seconds=self.login_first_delay_seconds,
                login_account_max_failures=self.login_account_max_failures,
                login_account_delay_seconds=self.login_account_delay_seconds,
                trusted_proxies=parse_networks(_listed(self.trusted_proxies)),
            ),
        )

    def token_settings(self) -> TokenSettings:
        return TokenSettings(
            secret=self.jwt_secret.get_secret_value(),
            issuer=self.jwt_issuer,
            audience=self.jwt_audience,
            ttl_seconds=self.access_token_ttl_seconds,
        )


def _listed(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]
