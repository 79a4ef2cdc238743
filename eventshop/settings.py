"""Settings from ``EVENTSHOP_*`` environment variables (DESIGN.md §8)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    embedded_kafka_port: int = 19092

    #: How long a query with ``X-Consistency-Token`` waits before answering 503.
    consistency_wait_seconds: float = Field(default=2.0, gt=0, le=30)
    kafka_session_timeout_ms: int = 6000
    log_level: str = "INFO"
