"""``eventshop react`` (the mail reactor) and ``eventshop mail …`` (the development mailbox,
the outbox's state, and operators' decisions about dead mail)."""

from __future__ import annotations

import threading
from typing import Annotated

import psycopg
import typer

from eventshop import wiring
from eventshop.cli.common import load_settings, show, start_probes, stop_on_signals, totals
from reactors import outbox
from reactors.mailbox import mailbox_server, stored

mail_app = typer.Typer(help="Mail: the outbox, and the development mailbox.", no_args_is_help=True)


def react() -> None:
    """Run the mail reactor: its sender, and its intake when EVENTSHOP_MAIL_INTAKE=reactor
    (by default the intake consumes in the projectors' processing groups)."""
    settings = load_settings()
    stop = stop_on_signals()
    intake = (
        wiring.projector(settings, wiring.MAIL_INTAKE)
        if settings.mail_intake == "reactor"
        else None
    )
    sender = wiring.mail_sender(settings)
    start_probes(
        settings.reactor_probe_port,
        settings,
        intake.assigned.is_set if intake else lambda: True,
        "eventshop_reactor",
        lambda: {
            **({"mail_intake": totals(intake.members[0].stats)} if intake else {}),
            "mail": totals(sender.stats),
        },
    )
    threads = [threading.Thread(target=sender.run, args=(stop,), name="reactor-mail-sender")]
    if intake is not None:
        threads.append(
            threading.Thread(target=intake.run, args=(stop,), name="reactor-mail-intake")
        )
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@mail_app.command("status")
def mail_status(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    failed: Annotated[bool, typer.Option("--failed", help="List dead and rejected mail")] = False,
) -> None:
    """Owed, sent, rejected and dead mail (the reactor's outbox)."""
    settings = load_settings()
    with psycopg.connect(wiring.database_url(settings)) as conn:
        if not failed:
            show([outbox.summary(conn, settings.read_schema)], as_json, single=True)
            return
        rows = outbox.mails(conn, settings.read_schema, ("dead", "rejected"))
    show(
        rows,
        as_json,
        columns=(
            ("key", "key"),
            ("state", "state"),
            ("attempts", "tries"),
            ("last_error", "error"),
        ),
    )


def _decide(key: str, decision: str) -> None:
    settings = load_settings()
    with psycopg.connect(wiring.database_url(settings)) as conn:
        if not outbox.decide(conn, settings.read_schema, key, decision):
            typer.echo(
                f"eventshop: no dead or rejected mail {key} (see: eventshop mail status --failed)",
                err=True,
            )
            raise typer.Exit(1)
        conn.commit()
    typer.echo(f"mail {key}: {decision}")


@mail_app.command("retry")
def mail_retry(
    key: Annotated[str, typer.Argument(help="The mail's key (mail status --failed)")],
) -> None:
    """Owe a dead or rejected mail again: the reactor sends it at once."""
    _decide(key, "retry")


@mail_app.command("discard")
def mail_discard(
    key: Annotated[str, typer.Argument(help="The mail's key (mail status --failed)")],
) -> None:
    """Give a dead or rejected mail up; later mails of its order or customer go on."""
    _decide(key, "discard")


@mail_app.command("serve")
def mail_serve(
    port: Annotated[int | None, typer.Option(help="Default: EVENTSHOP_SMTP_PORT")] = None,
) -> None:
    """Serve the development mailbox: an SMTP server keeping each message as an .eml file."""
    settings = load_settings(find_running=False)
    server = mailbox_server(settings.data_dir / "mail", settings.host, port or settings.smtp_port)
    server.start()
    typer.echo(f"mailbox: smtp://{settings.host}:{server.port} -> {settings.data_dir / 'mail'}")
    stop_on_signals().wait()
    server.stop()


@mail_app.command("list")
def mail_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The messages in the development mailbox (.eventshop/mail), oldest first."""
    settings = load_settings(find_running=False)
    rows = [m.as_json() for m in stored(settings.data_dir / "mail")]
    show(rows, as_json, columns=(("date", "date"), ("to", "to"), ("subject", "subject")))
