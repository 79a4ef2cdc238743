"""A whole eventshop fleet under ``eventshop run``, as the system bench and chaos runs use it.

:func:`running_fleet` starts ``eventshop run`` on given servers, in schemas, topics and
groups of its own, with N workers per API and M projector instances per group, and waits
until both APIs answer and every partition of every projection has an owner. The
:class:`Fleet` then finds its processes by kind (for CPU accounting and for killing
them), arms crash points (``contracts.faults``), and reads lag from outside.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import psutil
import psycopg
from kafka import KafkaAdminClient
from kafka.errors import KafkaError
from psycopg import sql

import eventshop.operations.status as operations
from bench.support import drop_schemas
from contracts.bookkeeping import INSTANCES_TABLE
from contracts.faults import arm
from contracts.readmodels import SOURCES
from contracts.topics import PARTITIONS
from eventshop.embedded import EmbeddedKafka, EmbeddedPostgres, free_port
from eventshop.settings import Settings
from tests.support.events import ready
from tests.support.stack import Servers, eventually, isolated_settings, settings_env

ADMIN = ("admin@bench.example", "bench-admin-password-1")
#: ``eventshop <args>`` as each kind of child process is started.
KINDS = {
    ("serve", "command"): "command_api",
    ("serve", "query"): "query_api",
    ("relay",): "relay",
    ("project",): "projector",
    ("payments", "sweep"): "sweeper",
    ("gateway", "fake"): "gateway",
    ("mail", "serve"): "mailbox",
    ("react",): "reactor",
}


@dataclass
class Fleet:
    settings: Settings
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    faults: Path
    log: Path
    #: The broker, when the fleet's owner started it (so a chaos run may kill it).
    broker: EmbeddedKafka | None = None
    #: The database server, when the fleet's owner started it (likewise).
    postgres: EmbeddedPostgres | None = None
    #: Server processes outside the fleet to account CPU to: kind -> root pid.
    servers: dict[str, int] = field(default_factory=dict)

    @property
    def database_url(self) -> str:
        return self.settings.database_url or ""

    @property
    def command_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.command_port}"

    @property
    def query_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.query_port}"

    def members(self) -> dict[str, list[psutil.Process]]:
        """The live processes of each kind (children of ``eventshop run``, and servers)."""
        found: dict[str, list[psutil.Process]] = {kind: [] for kind in KINDS.values()}
        for child in psutil.Process(self.process.pid).children(recursive=True):
            try:
                if child.status() == psutil.STATUS_ZOMBIE:
                    continue
                kind = _kind(child.cmdline())
            except psutil.Error:
                continue
            if kind:
                found[kind].append(child)
        for kind, pid in self.servers.items():
            try:
                root = psutil.Process(pid)
                found[kind] = [root, *root.children(recursive=True)]
            except psutil.Error:
                found[kind] = []
        return found

    def kill(self, kind: str, index: int = 0) -> int:
        victim = self.members()[kind][index]
        victim.send_signal(signal.SIGKILL)
        return int(victim.pid)

    def arm(self, point: str) -> Path:
        return arm(self.faults, point)

    def partitions(self) -> list[dict[str, Any]]:
        return operations.projections(self.settings, partitions=True)

    def all_owned(self) -> bool:
        """Every partition of every projection's topics held by an instance beating now."""
        with psycopg.connect(self.database_url) as conn:
            rows = conn.execute(
                sql.SQL(
                    "SELECT projection, count(DISTINCT held) FROM {}, unnest(partitions) held"
                    " WHERE heartbeat_at > now() - interval '6 seconds' GROUP BY projection"
                ).format(sql.Identifier(self.settings.read_schema, INSTANCES_TABLE))
            ).fetchall()
        held: dict[str, int] = dict(rows)
        return all(
            held.get(name, 0) == len(topics) * PARTITIONS for name, topics in SOURCES.items()
        )

    def admin_token(self) -> str:
        answer = httpx2.post(
            f"{self.command_url}/auth/token", data={"username": ADMIN[0], "password": ADMIN[1]}
        )
        answer.raise_for_status()
        token: str = answer.json()["access_token"]
        return token

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def running_fleet(
    servers: Servers,
    *,
    api_workers: int = 2,
    projector_processes: int = 1,
    broker: EmbeddedKafka | None = None,
    postgres: EmbeddedPostgres | None = None,
    database_url: str | None = None,
    **overrides: Any,
) -> Iterator[Fleet]:
    """``database_url``: what the fleet connects with, if not ``servers.database_url``."""
    work = Path(tempfile.mkdtemp(prefix="eventshop-fleet-"))
    settings = isolated_settings(
        servers,
        command_port=free_port(),
        query_port=free_port(),
        gateway_port=free_port(),
        smtp_port=free_port(),
        relay_probe_port=0,
        projector_probe_port=0,
        sweeper_probe_port=0,
        reactor_probe_port=0,
        command_probe_port=0,
        query_probe_port=0,
        api_workers=api_workers,
        projector_processes=projector_processes,
        admin_email=ADMIN[0],
        admin_password=ADMIN[1],
        data_dir=str(work / "data"),
        **overrides,
    )
    env = settings_env(settings)
    env.pop("EVENTSHOP_CRASH_AT", None)
    env["EVENTSHOP_FAULTS_DIR"] = str(work / "faults")
    if database_url:
        env["EVENTSHOP_DATABASE_URL"] = database_url
    log = work / "run.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "eventshop.cli", "run"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    fleet = Fleet(settings, env, process, work / "faults", log, broker, postgres)
    if broker is not None and broker.pid is not None:
        fleet.servers["broker"] = broker.pid
    if postgres is not None and postgres.pid is not None:
        fleet.servers["postgres"] = postgres.pid
    failed = True
    try:
        eventually(lambda: ready(f"{fleet.command_url}/readyz"), timeout=90)
        eventually(lambda: ready(f"{fleet.query_url}/readyz"), timeout=90)
        eventually(fleet.all_owned, timeout=90, interval=0.2)
        yield fleet
        failed = False
    finally:
        _stop(process)
        if failed:  # its log, schemas and topics tell what happened
            print(f"bench.fleet: the fleet's files are kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
            _forget(settings)


def _forget(settings: Settings) -> None:
    """Drop a stopped fleet's schemas and topics: a server of its own would go anyway, an
    external one (``EVENTSHOP_BENCH_DATABASE_URL``, a test session's) keeps nothing of it.
    A failure is told, not raised: the run itself went well."""
    try:
        with psycopg.connect(settings.database_url or "", autocommit=True) as conn:
            drop_schemas(conn, settings)
        admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
        try:
            ours = [t for t in admin.list_topics() if t.startswith(settings.topic_prefix)]
            if ours:
                admin.delete_topics(ours)
        finally:
            admin.close()
    except (psycopg.Error, KafkaError) as error:
        left = f"{settings.read_schema}, {settings.event_schema}, {settings.topic_prefix}*"
        print(f"bench.fleet: could not drop the fleet's {left}: {error}", file=sys.stderr)


def postgres_root(database_url: str) -> int | None:
    """The postmaster's pid, when ``database_url`` is an embedded server's socket here."""
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if process.info["name"] == "postgres" and "-D" in cmdline:
            data_dir = cmdline[cmdline.index("-D") + 1]
            if data_dir and os.path.dirname(data_dir.rstrip("/")) in database_url:
                return int(process.pid)
    return None


def _kind(cmdline: list[str]) -> str | None:
    if "eventshop.cli" not in cmdline:
        return None
    args = tuple(cmdline[cmdline.index("eventshop.cli") + 1 :])
    for prefix, kind in KINDS.items():
        if args[: len(prefix)] == prefix:
            return kind
    return None


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    time.sleep(0.1)
