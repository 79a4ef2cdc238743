"""``eventshop run``: the whole system in one supervised process group."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import typer
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from eventshop import readiness, runtime, serving, wiring
from eventshop.cli.common import load_settings, stop_on_signals
from eventshop.embedded import EmbeddedKafka, EmbeddedPostgres
from eventshop.settings import Settings
from eventshop.supervisor import Supervisor, child_env


def run() -> None:
    """Start everything in one supervised process group; embedded servers unless configured."""
    settings = load_settings(find_running=False)  # it starts what is not configured
    stop = stop_on_signals()
    postgres = kafka = None
    supervisor: Supervisor | None = None
    try:
        overrides = {}
        if not settings.database_url:
            postgres = EmbeddedPostgres(settings.data_dir / "pg")
            overrides["EVENTSHOP_DATABASE_URL"] = postgres.start()
        if not settings.kafka_bootstrap_servers:
            kafka = EmbeddedKafka(settings.embedded_kafka_port)
            overrides["EVENTSHOP_KAFKA_BOOTSTRAP_SERVERS"] = kafka.start()
        settings = settings.model_copy(
            update={
                "database_url": overrides.get("EVENTSHOP_DATABASE_URL", settings.database_url),
                "kafka_bootstrap_servers": overrides.get(
                    "EVENTSHOP_KAFKA_BOOTSTRAP_SERVERS", settings.kafka_bootstrap_servers
                ),
            }
        )
        wiring.tokens(settings)  # a weak secret off the embedded servers stops us here
        local = _local_services(settings, overrides)
        ports = [settings.command_port, settings.query_port, *(port for port, _ in local)]
        serving.ensure_distinct(settings.host, ports)
        for port in ports:
            serving.ensure_free(settings.host, port)
        wiring.migrate(settings)
        admin = _development_admin(settings)
        supervisor = _supervisor(settings, overrides, local)
        if postgres is not None:
            supervisor.watch("embedded PostgreSQL", postgres.ensure_running)
        if kafka is not None:
            supervisor.watch("embedded broker", kafka.ensure_running)
        found = runtime.record(  # the operator CLI here can reach the servers from now on
            settings,
            command_url=f"http://{settings.host}:{settings.command_port}",
            query_url=f"http://{settings.host}:{settings.query_port}",
        )
        late = readiness.wait_until_ready(readiness.probe_urls(settings), stop, supervisor.tend)
        _banner(settings, embedded_pg=postgres is not None, embedded_kafka=kafka is not None)
        typer.echo(f"Operator CLI in this directory: eventshop projections list (reads {found})")
        typer.echo(admin)
        if late:
            typer.echo(f"eventshop: not ready yet: {', '.join(late)}", err=True)
        supervisor.run(stop)
    finally:
        runtime.forget(settings)
        if supervisor is not None:
            supervisor.stop_all()  # also when stopped while waiting for readiness
        if kafka is not None:
            kafka.stop()
        if postgres is not None:
            postgres.stop()
    typer.echo("eventshop stopped")


def _supervisor(
    settings: Settings, overrides: dict[str, str], local: list[tuple[int, list[str]]]
) -> Supervisor:
    """Every child process of the run, not started yet."""
    supervisor = Supervisor(child_env(overrides))
    for _, (name, *args) in local:
        supervisor.add(name, *args)
    for n in range(settings.api_workers):
        command = _instance_probe("COMMAND", settings.command_probe_port, n)
        supervisor.add(f"command-api-{n}", "serve", "command", env=command)
        query = _instance_probe("QUERY", settings.query_probe_port, n)
        supervisor.add(f"query-api-{n}", "serve", "query", env=query)
    supervisor.add("relay", "relay")
    for n in range(settings.projector_processes):
        supervisor.add(
            f"projector-{n}",
            "project",
            env=_instance_probe("PROJECTOR", settings.projector_probe_port, n),
        )
    supervisor.add("payment-sweeper", "payments", "sweep")
    supervisor.add("reactor", "react")
    return supervisor


def _local_services(settings: Settings, overrides: dict[str, str]) -> list[tuple[int, list[str]]]:
    """What `eventshop run` serves itself when no URL is configured, by port: the fake
    payment gateway and the development mailbox (their children's names and commands).
    Every child is pointed at them through ``overrides``, as at real services."""
    local: list[tuple[int, list[str]]] = []
    if not settings.gateway_url:
        overrides["EVENTSHOP_GATEWAY_URL"] = f"http://{settings.host}:{settings.gateway_port}"
        local.append((settings.gateway_port, ["payment-gateway", "gateway", "fake"]))
    if not settings.smtp_url:
        overrides["EVENTSHOP_SMTP_URL"] = f"smtp://{settings.host}:{settings.smtp_port}"
        local.append((settings.smtp_port, ["mailbox", "mail", "serve"]))
    return local


def shown_url(url: str) -> str:
    """A database URL fit to print (and to give psql): its password masked."""
    info = conninfo_to_dict(url)
    if info.get("password"):
        info["password"] = "***"  # noqa: S105 - a mask, not a secret
    return make_conninfo("", **info)


def _instance_probe(kind: str, base: int, n: int) -> dict[str, str]:
    """Instance n's probe port: base + 10 n (0 keeps every probe off)."""
    return {f"EVENTSHOP_{kind}_PROBE_PORT": str(base + 10 * n if base else 0)}


def _development_admin(settings: Settings) -> str:
    """Create the development admin: from the environment, or generated once and kept."""
    if settings.admin_email and settings.admin_password:
        # A password we were given is never printed: its owner knows it.
        email, password = settings.admin_email, settings.admin_password.get_secret_value()
        shown = "the password in EVENTSHOP_ADMIN_PASSWORD"
    else:
        saved = settings.data_dir / "admin-credentials.json"
        if saved.exists():
            saved.chmod(0o600)
            stored = json.loads(saved.read_text())
            email, password = stored["email"], stored["password"]
        else:
            email, password = "admin@eventshop.local", secrets.token_urlsafe(12)
            _write_private(saved, json.dumps({"email": email, "password": password}))
        shown = f"{password} (generated, kept in {saved})"
    created = wiring.create_admin(settings, email, password)
    state = "created" if created else "already registered; password as first created"
    return f"Admin login: {email} / {shown} ({state})\n"


def _write_private(path: Path, text: str) -> None:
    """Create ``path`` readable by its owner only *before* a byte of ``text`` is in it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)


def _banner(settings: Settings, *, embedded_pg: bool, embedded_kafka: bool) -> None:
    base = f"http://{settings.host}"
    typer.echo(
        f"""
eventshop is running
  command API  {base}:{settings.command_port}   (docs: {base}:{settings.command_port}/docs)
  query API    {base}:{settings.query_port}   (docs: {base}:{settings.query_port}/docs)
  PostgreSQL   {shown_url(settings.database_url or "")}{
            " (embedded, data in " + str(settings.data_dir / "pg") + ")" if embedded_pg else ""
        }
  Kafka        {settings.kafka_bootstrap_servers}{
            " (embedded Tansu, memory only)" if embedded_kafka else ""
        }
  payments     {settings.gateway_url or f"{base}:{settings.gateway_port}"}{
            ""
            if settings.gateway_url
            else " (fake gateway: tok_ok, tok_declined, tok_timeout, tok_error)"
        }
  mail         {settings.smtp_url or f"smtp://{settings.host}:{settings.smtp_port}"}{
            ""
            if settings.smtp_url
            else f" (kept in {settings.data_dir / 'mail'}: eventshop mail list)"
        }
Press Ctrl-C to stop.
""",
    )
