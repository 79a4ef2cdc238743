"""The ``eventshop`` command: run, serve, relay, project, migrate; operators' views."""

from __future__ import annotations

import json
import sys
import threading
from typing import Annotated

import psycopg
import typer
from kafka import KafkaAdminClient
from kafka.errors import KafkaError

import eventshop.cli.customers as cli_customers
import eventshop.cli.errors as cli_errors
import eventshop.cli.mail as cli_mail
import eventshop.cli.projections as cli_operations
import eventshop.cli.run as cli_run
import eventshop.operations.status as operations
from contracts.topics import all_topics, dead_letter_topic
from eventshop import serving, wiring
from eventshop.cli.common import (
    WaitOption,
    load_settings,
    show,
    start_probes,
    stop_on_signals,
    totals,
    until_reachable,
)
from eventshop.operations.trace import trace
from eventshop.probes import serve_probes
from write_side.gateway.fake_service import create_fake_gateway_app
from write_side.relay.checkpoint import ensure_topics

app = typer.Typer(help="eventshop: a CQRS / event-sourced commerce backend.", no_args_is_help=True)
app.add_typer(cli_operations.projections_app, name="projections")
app.add_typer(cli_operations.dlq_app, name="dlq")
app.command()(cli_run.run)
app.command()(cli_mail.react)
app.add_typer(cli_mail.mail_app, name="mail")
app.add_typer(cli_customers.customers_app, name="customers")

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
    settings = load_settings()
    if wiring.create_admin(settings, email, password):
        typer.echo(f"admin {email} created")
    else:
        typer.echo(f"eventshop: {email} is already registered", err=True)
        raise typer.Exit(1)


events_app = typer.Typer(help="The event store, for operators.", no_args_is_help=True)
app.add_typer(events_app, name="events")


@events_app.command("trace")
def events_trace(
    id_: Annotated[
        str, typer.Argument(metavar="ID", help="A request id, or <aggregate id>.<version>")
    ],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    wide: Annotated[bool, typer.Option("--wide")] = False,
) -> None:
    """The causal chain of a request or event: its events (command, actor, cause), then
    the mail it caused."""
    settings = load_settings()
    with psycopg.connect(wiring.database_url(settings)) as conn:
        chain = trace(conn, settings.event_schema, settings.read_schema, id_)
    if not chain:
        typer.echo(f"eventshop: no event carries the request id {id_}", err=True)
        raise typer.Exit(1)
    show(
        chain, as_json, columns=(("what", "what"), ("command", "command"), ("id", "id")), wide=wide
    )


gateway_app = typer.Typer(help="The payment gateway.", no_args_is_help=True)
app.add_typer(gateway_app, name="gateway")


@gateway_app.command("fake")
def gateway_fake(
    port: Annotated[int | None, typer.Option(help="Default: EVENTSHOP_GATEWAY_PORT")] = None,
) -> None:
    """Serve the development payment gateway over HTTP (test tokens: docs/api.md, "Command API")."""
    settings = load_settings(find_running=False)
    serving.serve(
        create_fake_gateway_app(),
        settings.host,
        port or settings.gateway_port,
        settings.log_level,
    )


payments_app = typer.Typer(help="Payments.", no_args_is_help=True)
app.add_typer(payments_app, name="payments")


@payments_app.command("sweep")
def payments_sweep(
    once: Annotated[bool, typer.Option(help="Sweep once and exit")] = False,
) -> None:
    """Settle payments left started by a gateway timeout or a crash nobody retried, and
    expire orders not paid in time (the order process manager runs in this process)."""
    settings = load_settings()
    shop = wiring.shop(settings, pool_size=2)
    sweeper = wiring.payment_sweeper(settings, shop)
    expiry = wiring.order_expiry(settings, shop)
    if once:
        typer.echo(json.dumps({"payments": sweeper.sweep_once(), "orders": expiry.run_once()}))
        return
    start_probes(
        settings.sweeper_probe_port,
        settings,
        lambda: True,
        "eventshop_payment_sweeper",
        lambda: {
            "sweeper": {"pending": float(len(sweeper.pending))},
            "order_expiry": {"expired": float(expiry.expired)},
        },
    )
    stop = stop_on_signals()
    manager = threading.Thread(target=expiry.run, args=(stop,), name="order-expiry", daemon=True)
    manager.start()
    sweeper.run(stop)
    manager.join(timeout=10)


@app.command()
def migrate(wait: WaitOption = 0) -> None:
    """Create or update the event-store and read-model schemas and the query role."""
    settings = load_settings()
    outdated = until_reachable(lambda: wiring.migrate(settings), wait, psycopg.OperationalError)
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
    settings = load_settings()
    if api == "command":
        app, port, probe = (
            wiring.command_app(settings),
            settings.command_port,
            settings.command_probe_port,
        )
    elif api == "query":
        app, port, probe = (
            wiring.query_app(settings),
            settings.query_port,
            settings.query_probe_port,
        )
    else:
        raise typer.BadParameter("expected 'command' or 'query'", param_hint="API")
    if probe:  # its /metrics, for Prometheus; clients' readiness is the API's own /readyz
        serve_probes(settings.host, probe, lambda: True, app.state.metrics)
    serving.serve(app, settings.host, port, settings.log_level)


relay_app = typer.Typer(help="The relay from the event store to Kafka.")
app.add_typer(relay_app, name="relay")


@relay_app.callback(invoke_without_command=True)
def relay(ctx: typer.Context) -> None:
    """Carry the event store's notification log to Kafka (one active relay at a time)."""
    if ctx.invoked_subcommand is not None:
        return
    settings = load_settings()
    stop = stop_on_signals()
    relay = wiring.relay(settings)
    start_probes(
        settings.relay_probe_port,
        settings,
        lambda: relay.stats.blocked_type is None,  # blocked: not ready, say so to operators
        "eventshop_relay",
        lambda: {
            "relay": {
                "published_total": relay.stats.published,
                "batches_total": relay.stats.batches,
                "last_batch_size": relay.stats.last_batch_size,
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
    show([operations.relay_status(load_settings())], as_json, single=True)


@relay_app.command("topics")
def relay_topics(wait: WaitOption = 0) -> None:
    """Create the shop's topics and their dead-letter topics where the broker lacks them
    (a one-shot job for brokers that do not create topics on use; the relay and the
    projectors also create what they need)."""
    settings = load_settings()
    topics = all_topics(settings.topic_prefix)

    def create() -> None:
        admin = KafkaAdminClient(
            bootstrap_servers=wiring.kafka(settings), client_id="eventshop-topics"
        )
        try:
            ensure_topics(admin, [*topics, *(dead_letter_topic(t) for t in topics)])
        finally:
            admin.close()

    until_reachable(create, wait, KafkaError)
    typer.echo(f"topics ready: {', '.join(topics)} and their .dlt topics")


@app.command()
def project(
    projection: Annotated[
        list[str] | None, typer.Option("--projection", "-p", help="Projection name; repeatable")
    ] = None,
) -> None:
    """Run projectors (all of them by default), in their processing groups."""
    settings = load_settings()
    stop = stop_on_signals()
    projectors = wiring.projectors(settings, projection)
    start_probes(
        settings.projector_probe_port,
        settings,
        lambda: all(p.assigned.is_set() for p in projectors),
        "eventshop_projector",
        lambda: {m.name: totals(m.stats) for p in projectors for m in p.members},
    )
    threads = [
        threading.Thread(target=p.run, args=(stop,), name=f"projector-{p.name}") for p in projectors
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def main() -> None:
    """Run the CLI; a failure is one line on stderr (``--debug`` anywhere: the traceback)."""
    debug = "--debug" in sys.argv[1:]
    if debug:
        sys.argv.remove("--debug")
    try:
        app()
    except Exception as error:
        if debug:
            raise
        message, code = cli_errors.explain(error)
        typer.echo(f"eventshop: {message}", err=True)
        raise SystemExit(code) from None


if __name__ == "__main__":
    main()
