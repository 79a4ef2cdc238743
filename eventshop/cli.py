"""The ``eventshop`` command: run, serve, relay, project, migrate."""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from prometheus_client import REGISTRY
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from eventshop import dead_letters, logs, operations, readiness, serving, wiring
from eventshop.embedded import EmbeddedKafka, EmbeddedPostgres
from eventshop.probes import StatsCollector, serve_probes
from eventshop.settings import Settings
from eventshop.supervisor import Supervisor, child_env
from projections.rebuild import RebuildResult, RebuildRunningError, TableVersionMismatchError
from projections.registry import PROJECTIONS
from projections.verify import verify

app = typer.Typer(help="eventshop: a CQRS / event-sourced commerce backend.", no_args_is_help=True)
log = logging.getLogger("eventshop")


def _settings() -> Settings:
    settings = Settings()
    logs.configure(settings.log_level)
    return settings


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handle(*_: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)
    return stop


admin_app = typer.Typer(help="Manage admin accounts.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")


@admin_app.command("create")
def admin_create(
    email: Annotated[str, typer.Option(help="The admin's email (their login)")],
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, help="At least 8 characters")
    ],
) -> None:
    """Create an admin account (works against any configured database)."""
    settings = _settings()
    if wiring.create_admin(settings, email, password):
        typer.echo(f"admin {email} created")
    else:
        typer.echo(f"eventshop: {email} is already registered", err=True)
        raise typer.Exit(1)


payments_app = typer.Typer(help="Payments.", no_args_is_help=True)
app.add_typer(payments_app, name="payments")


@payments_app.command("sweep")
def payments_sweep(
    once: Annotated[bool, typer.Option(help="Sweep once and exit")] = False,
) -> None:
    """Settle payments left started by a gateway timeout or a crash nobody retried."""
    settings = _settings()
    sweeper = wiring.payment_sweeper(settings)
    if once:
        typer.echo(json.dumps(sweeper.sweep_once()))
        return
    _probes(
        settings.sweeper_probe_port,
        settings,
        lambda: True,
        "eventshop_payment_sweeper",
        lambda: {"sweeper": {"pending": float(len(sweeper.pending))}},
    )
    sweeper.run(_stop_on_signals())


@app.command()
def migrate() -> None:
    """Create or update the event-store and read-model schemas and the query role."""
    outdated = wiring.migrate(_settings())
    typer.echo("migrated")
    for name, (live, wanted) in outdated.items():
        typer.echo(
            f"eventshop: read model {name} is at table version {live}, this release writes"
            f" {wanted}: its projector waits until `eventshop projections rebuild {name}`",
            err=True,
        )


@app.command()
def serve(api: Annotated[str, typer.Argument(help="command or query")]) -> None:
    """Serve the command API or the query API."""
    settings = _settings()
    if api == "command":
        serving.serve(
            wiring.command_app(settings), settings.host, settings.command_port, settings.log_level
        )
    elif api == "query":
        serving.serve(
            wiring.query_app(settings), settings.host, settings.query_port, settings.log_level
        )
    else:
        raise typer.BadParameter("expected 'command' or 'query'", param_hint="API")


relay_app = typer.Typer(help="The relay from the event store to Kafka.")
app.add_typer(relay_app, name="relay")


@relay_app.callback(invoke_without_command=True)
def relay(ctx: typer.Context) -> None:
    """Carry the event store's notification log to Kafka (one active relay at a time)."""
    if ctx.invoked_subcommand is not None:
        return
    settings = _settings()
    stop = _stop_on_signals()
    relay = wiring.relay(settings)
    _probes(
        settings.relay_probe_port,
        settings,
        lambda: relay.stats.blocked_type is None,  # blocked: not ready, say so to operators
        "eventshop_relay",
        lambda: {
            "relay": {
                "published_total": relay.stats.published,
                "republishes_total": relay.stats.republishes,
                "active": float(relay.active.is_set()),
                "blocked": float(relay.stats.blocked_type is not None),
            }
        },
    )
    relay.run(stop)


@relay_app.command("status")
def relay_status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Checkpoint, unpublished notifications, and whether a relay holds the lock."""
    _show([operations.relay_status(_settings())], as_json, single=True)


projections_app = typer.Typer(help="Projections: where they are.", no_args_is_help=True)
app.add_typer(projections_app, name="projections")


@projections_app.command("list")
def projections_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every projection, its source topics, lag and state."""
    _show(operations.projections(_settings(), partitions=False), as_json)


@projections_app.command("status")
def projections_status(
    partitions: Annotated[bool, typer.Option("--partitions", help="One row per partition")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Position, lag, parked and dead-lettered counts, state."""
    _show(operations.projections(_settings(), partitions=partitions), as_json)


@projections_app.command("rebuild")
def projections_rebuild(
    name: Annotated[str | None, typer.Argument(help="The projection to rebuild")] = None,
    every: Annotated[bool, typer.Option("--all", help="Rebuild every projection")] = False,
    batch_size: Annotated[int, typer.Option(min=1, max=100_000)] = 10_000,
    grace_seconds: Annotated[float, typer.Option(min=0)] = 5.0,
) -> None:
    """Blue/green rebuild from the event store; resumable; live reads use the old copy."""
    settings = _settings()
    if every == (name is not None):
        raise typer.BadParameter("name one projection, or pass --all")
    names = list(PROJECTIONS) if every else [name or ""]
    for each in names:
        rebuilder = wiring.rebuilder(settings, each, batch_size)
        with _progress(each) as progress:
            result = rebuilder.run(progress, grace_seconds=grace_seconds)
        _report_rebuild(result)


def _report_rebuild(result: RebuildResult, *, err: bool = False) -> None:
    typer.echo(
        f"{result.projection}: {result.events} events in {result.seconds:.1f}s"
        f" ({result.events / max(result.seconds, 1e-9):.0f}/s)"
        + (f", resumed after notification {result.resumed_from}" if result.resumed_from else ""),
        err=err,
    )
    for notification_id, error in result.failed:
        typer.echo(
            f"eventshop: {result.projection} could not apply notification {notification_id}:"
            f" {error}",
            err=True,
        )


@projections_app.command("verify")
def projections_verify(
    name: Annotated[str, typer.Argument(help="The projection to verify")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Rebuild into a scratch copy and compare with the live one; exit 1 on any difference."""
    settings = _settings()
    with _progress(f"verify {name}") as progress:
        report = verify(wiring.rebuilder(settings, name), progress)
    rows = [
        {
            "table": t.table,
            "live_rows": t.live_rows,
            "rebuilt_rows": t.rebuilt_rows,
            "equal": t.equal,
            "differing": "; ".join(t.differing),
        }
        for t in report.tables
    ]
    _show(rows, as_json)
    # Compared at the live projector's own positions: lag is reported, never a difference.
    typer.echo(f"{name}: {report.lag_events} event(s) not yet applied live (lag)", err=True)
    if not report.equal:
        typer.echo(f"eventshop: {name} differs from a rebuild from the event store", err=True)
        raise typer.Exit(1)


@contextmanager
def _progress(name: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar (events, events/s, ETA) on a terminal; plain log lines otherwise."""
    if not sys.stderr.isatty():
        last = [0.0]

        def log_line(done: int, total: int) -> None:
            if time.monotonic() - last[0] > 2 or done == total:
                last[0] = time.monotonic()
                log.info("rebuild %s: %d/%d events", name, done, total)

        yield log_line
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} events/s"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task(f"rebuild {name}", total=None, rate="-")
        started = time.monotonic()

        def update(done: int, total: int) -> None:
            rate = done / max(time.monotonic() - started, 1e-9)
            bar.update(task, completed=done, total=total, rate=f"{rate:,.0f}")

        yield update


dlq_app = typer.Typer(help="Dead-letter topics.", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")


@dlq_app.command("list")
def dlq_list(
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 100,
    everything: Annotated[
        bool, typer.Option("--all", help="Include replayed and discarded letters")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Pending dead letters: id, projection, origin, and the error that sent them there."""
    found = dead_letters.letters(_settings(), include_resolved=everything)[:limit]
    _show([x.as_dict() for x in found], as_json)


LetterIds = Annotated[list[str] | None, typer.Argument(help="Ids from `eventshop dlq list`")]
AllPending = Annotated[bool, typer.Option("--all", help="Every pending dead letter")]


def _letter_ids(ids: list[str] | None, every: bool) -> list[str] | None:
    if every == bool(ids):
        raise typer.BadParameter("name dead letters by id, or pass --all")
    return None if every else ids


@dlq_app.command("replay")
def dlq_replay(
    ids: LetterIds = None,
    every: AllPending = False,
    grace_seconds: Annotated[float, typer.Option(min=0)] = 5.0,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Deploy the fix first: rebuilds each affected projection from the event store, so
    the dead-lettered events are applied in their place in history. Exit 1 if any is not."""
    settings = _settings()

    def rebuild(name: str) -> RebuildResult:
        with _progress(f"rebuild {name}") as progress:
            result = wiring.rebuilder(settings, name).run(progress, grace_seconds)
        _report_rebuild(result, err=True)  # stdout is for the outcomes (--json)
        return result

    try:
        outcomes = dead_letters.replay(settings, _letter_ids(ids, every), rebuild=rebuild)
    except dead_letters.UnknownLetterError as error:
        raise typer.BadParameter(str(error)) from error
    _show([x.as_dict() for x in outcomes], as_json)
    if any(x.outcome != dead_letters.REPLAYED for x in outcomes):
        raise typer.Exit(1)


@dlq_app.command("discard")
def dlq_discard(
    ids: LetterIds = None,
    every: AllPending = False,
    note: Annotated[str, typer.Option(help="Why: kept beside the decision")] = "",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Mark dead letters handled without replaying them (junk, or events to leave out)."""
    try:
        outcomes = dead_letters.discard(_settings(), _letter_ids(ids, every), note)
    except dead_letters.UnknownLetterError as error:
        raise typer.BadParameter(str(error)) from error
    _show([x.as_dict() for x in outcomes], as_json)


def _probes(
    port: int,
    settings: Settings,
    ready: Callable[[], bool],
    prefix: str,
    read: Callable[[], dict[str, dict[str, float]]],
) -> None:
    if port:
        REGISTRY.register(StatsCollector(prefix, read))
        serve_probes(settings.host, port, ready)


def _show(rows: list[dict[str, Any]], as_json: bool, *, single: bool = False) -> None:
    if as_json:
        typer.echo(json.dumps(rows[0] if single else rows, default=str))
        return
    if not rows:
        typer.echo("(none)")
        return
    table = Table(*rows[0].keys())
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    Console().print(table)


@app.command()
def project(
    projection: Annotated[
        list[str] | None, typer.Option("--projection", "-p", help="Projection name; repeatable")
    ] = None,
) -> None:
    """Run projectors (all of them by default), each in its own consumer group."""
    settings = _settings()
    stop = _stop_on_signals()
    projectors = wiring.projectors(settings, projection)
    _probes(
        settings.projector_probe_port,
        settings,
        lambda: all(p.assigned.is_set() for p in projectors),
        "eventshop_projector",
        lambda: {
            p.projection.name: {f"{k}_total": float(v) for k, v in vars(p.stats).items()}
            for p in projectors
        },
    )
    threads = [
        threading.Thread(target=p.run, args=(stop,), name=f"projector-{p.projection.name}")
        for p in projectors
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@app.command()
def run() -> None:
    """Start everything in one supervised process group; embedded servers unless configured."""
    settings = _settings()
    stop = _stop_on_signals()
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
        for port in (settings.command_port, settings.query_port):
            serving.ensure_free(settings.host, port)
        wiring.migrate(settings)
        admin = _development_admin(settings)
        supervisor = Supervisor(child_env(overrides))
        for n in range(settings.api_workers):
            supervisor.add(f"command-api-{n}", "serve", "command")
            supervisor.add(f"query-api-{n}", "serve", "query")
        supervisor.add("relay", "relay")
        for n in range(settings.projector_processes):
            supervisor.add(
                f"projector-{n}", "project", env=_instance_probe(settings.projector_probe_port, n)
            )
        supervisor.add("payment-sweeper", "payments", "sweep")
        late = readiness.wait_until_ready(readiness.probe_urls(settings), stop, supervisor.tend)
        _banner(settings, embedded_pg=postgres is not None, embedded_kafka=kafka is not None)
        typer.echo(admin)
        if late:
            typer.echo(f"eventshop: not ready yet: {', '.join(late)}", err=True)
        supervisor.run(stop)
    finally:
        if supervisor is not None:
            supervisor.stop_all()  # also when stopped while waiting for readiness
        if kafka is not None:
            kafka.stop()
        if postgres is not None:
            postgres.stop()
    typer.echo("eventshop stopped")


def _instance_probe(base: int, n: int) -> dict[str, str]:
    """Projector instance n's probe port: base + 10 n (0 keeps every probe off)."""
    return {"EVENTSHOP_PROJECTOR_PROBE_PORT": str(base + 10 * n if base else 0)}


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
  PostgreSQL   {"embedded, data in " + str(settings.data_dir / "pg") if embedded_pg else "external"}
  Kafka        {settings.kafka_bootstrap_servers}{
            " (embedded Tansu, memory only)" if embedded_kafka else ""
        }
Press Ctrl-C to stop.
""",
    )


def main() -> None:
    try:
        app()
    except wiring.NotConfiguredError as error:
        typer.echo(f"eventshop: {error}", err=True)
        raise SystemExit(2) from None
    except RebuildRunningError as error:
        typer.echo(f"eventshop: {error}; try again when it has finished", err=True)
        raise SystemExit(1) from None
    except TableVersionMismatchError as error:
        typer.echo(f"eventshop: {error}", err=True)
        raise SystemExit(1) from None
    except serving.PortInUseError as error:
        typer.echo(f"eventshop: {error}", err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
