"""An isolated eventshop on the session's servers: unique schemas, topics and groups."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psycopg
from fastapi.testclient import TestClient
from pydantic import SecretStr

from eventshop import wiring
from eventshop.settings import Settings
from projections.live.consumer import KafkaProjector
from projections.projection import Projection
from tests.support.credentials import PASSWORD, TEST_SECRET, login
from write_side.relay.publisher import KafkaRelay

T = TypeVar("T")
#: Re-exported for the server tiers (the unit tier imports tests.support.credentials).
__all__ = ["PASSWORD", "TEST_SECRET", "login"]


@dataclass(frozen=True)
class Servers:
    database_url: str
    kafka_bootstrap_servers: str


def isolated_settings(servers: Servers, **overrides: Any) -> Settings:
    tag = uuid.uuid4().hex[:10]
    values: dict[str, Any] = {
        "database_url": servers.database_url,
        "kafka_bootstrap_servers": servers.kafka_bootstrap_servers,
        "event_schema": f"es_{tag}",
        "read_schema": f"rm_{tag}",
        "topic_prefix": f"t{tag}.",
        "consumer_group_prefix": f"g{tag}",
        "kafka_session_timeout_ms": 2000,
        # API workers a test starts serve no probe port unless it asks for one.
        "command_probe_port": 0,
        "query_probe_port": 0,
        "jwt_secret": TEST_SECRET,
        # Every test client is one address: limits high enough for any test but those of
        # the limits themselves, which set their own.
        "rate_limit_requests": 1_000_000,
        "register_limit": 1_000_000,
        "login_limit": 1_000_000,
        "login_max_failures": 1_000,
        # Tests race many registrations at once; the hashing cap has tests of its own.
        "password_hash_concurrency": 64,
        # Cheap argon2 for tests; production keeps argon2-cffi's defaults.
        "argon2_time_cost": 1,
        "argon2_memory_kib": 8,
        "argon2_parallelism": 1,
    }
    values.update(overrides)
    return Settings.model_validate(values)


def settings_env(settings: Settings) -> dict[str, str]:
    """The same settings as ``EVENTSHOP_*`` variables, for a child process."""
    env = dict(os.environ)
    for key, value in settings.model_dump(exclude_none=True).items():
        plain = value.get_secret_value() if isinstance(value, SecretStr) else value
        env[f"EVENTSHOP_{key.upper()}"] = str(plain)
    return env


def eventually(check: Callable[[], T], timeout: float = 30.0, interval: float = 0.05) -> T:
    """Poll ``check`` until it returns a truthy value; for background convergence only."""
    deadline = time.monotonic() + timeout
    last: T = check()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout}s; last value {last!r}")
        time.sleep(interval)
        last = check()
    return last


class WithHeaders:
    """A client that sends some headers on every request (a bearer token, say)."""

    def __init__(self, client: TestClient, headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers

    def get(self, url: str, *, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
        return self.client.get(url, headers={**self.headers, **(headers or {})}, **kwargs)


@dataclass
class Stack:
    settings: Settings
    commands: TestClient
    queries: TestClient
    #: The command API as an admin (products, stock); ``commands`` is anonymous.
    admin: TestClient
    #: The query API as that admin; ``queries`` is anonymous.
    admin_queries: WithHeaders
    stop: threading.Event = field(default_factory=threading.Event)
    relay: KafkaRelay | None = None
    projectors: list[KafkaProjector] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)

    def start_relay(self) -> KafkaRelay:
        self.relay = wiring.relay(self.settings)
        self._spawn(self.relay.run, "relay")
        return self.relay

    def start_projectors(
        self, *names: str, custom: Projection | None = None
    ) -> list[KafkaProjector]:
        """Start the named projections (all: none named), or one ``custom`` projection."""
        if custom is not None:
            started = [wiring.projector(self.settings, custom)]
        else:
            started = wiring.projectors(self.settings, list(names) or None)
        for projector in started:
            self._spawn(projector.run, f"projector-{projector.name}")
        self.projectors.extend(started)
        # Ready as the projector probe defines it: every consumer holds its partitions.
        # (Before that a token wait can exceed its bound and answer 503, as designed.)
        for projector in started:
            assert projector.assigned.wait(timeout=60), projector.name
        return started

    def _spawn(self, target: Callable[[threading.Event], None], name: str) -> None:
        thread = threading.Thread(target=target, args=(self.stop,), name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def sql(self, statement: str, *params: Any) -> list[tuple[Any, ...]]:
        """Run ``statement`` with ``{rm}`` / ``{es}`` naming this stack's schemas."""
        with psycopg.connect(self.settings.database_url or "", autocommit=True) as conn:
            cur = conn.execute(
                statement.format(rm=self.settings.read_schema, es=self.settings.event_schema),
                params,
            )
            return cur.fetchall() if cur.description else []

    def positions(self, projection: str) -> dict[str, int]:
        rows = self.sql(
            "SELECT sum(applied), sum(duplicates), sum(skipped), sum(dead_lettered)"
            " FROM {rm}.projection_positions WHERE projection = %s",
            projection,
        )
        applied, duplicates, skipped, dead = rows[0]
        return {
            "applied": int(applied or 0),
            "duplicates": int(duplicates or 0),
            "skipped": int(skipped or 0),
            "dead_lettered": int(dead or 0),
        }

    def child(self, *cli_args: str, **env: str) -> subprocess.Popen[bytes]:
        """Run ``eventshop <cli_args>`` as a real process with this stack's settings."""
        return subprocess.Popen(
            [sys.executable, "-m", "eventshop.cli", *cli_args],
            env={**settings_env(self.settings), **env},
        )


def admin_token(settings: Settings, commands: TestClient) -> str:
    email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    assert wiring.create_admin(settings, email, PASSWORD)
    return login(commands, email)


@contextmanager
def running_stack(servers: Servers, **overrides: Any) -> Iterator[Stack]:
    settings = isolated_settings(servers, **overrides)
    wiring.migrate(settings)
    command_app = wiring.command_app(settings)
    with (
        TestClient(command_app) as commands,
        TestClient(command_app) as admin,
        TestClient(wiring.query_app(settings)) as queries,
    ):
        bearer = {"Authorization": f"Bearer {admin_token(settings, commands)}"}
        admin.headers.update(bearer)
        stack = Stack(settings, commands, queries, admin, WithHeaders(queries, bearer))
        try:
            yield stack
        finally:
            stack.stop.set()
            for thread in stack.threads:
                thread.join(timeout=15)
            # Close the connection pools: the session's PostgreSQL is shared by every test.
            command_app.state.shop.close()
            if stack.relay is not None:
                stack.relay.event_store.close()
