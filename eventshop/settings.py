"""Settings from ``EVENTSHOP_*`` environment variables (DESIGN.md §8)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.auth import DEV_SECRET, TokenSettings


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
    kafka_session_timeout_ms: int = 6000
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

    #: ``eventshop run`` creates this admin (or prints generated credentials).
    admin_email: str | None = None
    admin_password: SecretStr | None = None

    def token_settings(self) -> TokenSettings:
        return TokenSettings(
            secret=self.jwt_secret.get_secret_value(),
            issuer=self.jwt_issuer,
            audience=self.jwt_audience,
            ttl_seconds=self.access_token_ttl_seconds,
        )
