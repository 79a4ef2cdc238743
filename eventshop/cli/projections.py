"""Operator commands: projections list|status|rebuild|verify, dlq list|replay|discard."""

from __future__ import annotations

from typing import Annotated

import typer

import eventshop.operations.status as operations
from eventshop import wiring
from eventshop.cli.common import Columns, load_settings, progress_bar, show
from eventshop.operations import dead_letters
from projections.rebuild.rebuilder import BATCH_EVENTS, RebuildResult
from projections.registry import PROJECTIONS

projections_app = typer.Typer(help="Projections: where they are.", no_args_is_help=True)
Wide = Annotated[bool, typer.Option("--wide", help="Every column, however wide")]
AsJson = Annotated[bool, typer.Option("--json", help="Every field, as JSON")]
SUMMARY: Columns = (
    ("projection", "projection"),
    ("state", "state"),
    ("lag_events", "lag"),
    ("lag_seconds", "lag s"),
    ("relay_backlog", "backlog"),
    ("owners", "owners"),
    ("parked", "parked"),
    ("dead_lettered", "dead"),
)
PARTITIONS: Columns = (
    ("projection", "projection"),
    ("topic", "topic"),
    ("partition", "p"),
    ("position", "position"),
    ("lag_events", "lag"),
    ("state", "state"),
    ("owner", "owner"),
)
VERIFIED: Columns = (
    ("table", "table"),
    ("live_rows", "live rows"),
    ("rebuilt_rows", "rebuilt rows"),
    ("equal", "equal"),
)
LETTERS: Columns = (
    ("id", "id"),
    ("original", "from"),
    ("error_class", "error"),
    ("waiting", "waiting"),
    ("status", "status"),
)


@projections_app.command("list")
def projections_list(as_json: AsJson = False, wide: Wide = False) -> None:
    """Every projection, its source topics, lag and state."""
    show(
        operations.projections(load_settings(), partitions=False),
        as_json,
        columns=SUMMARY,
        wide=wide,
    )


@projections_app.command("status")
def projections_status(
    partitions: Annotated[bool, typer.Option("--partitions", help="One row per partition")] = False,
    as_json: AsJson = False,
    wide: Wide = False,
) -> None:
    """Position, lag, parked and dead-lettered counts, state."""
    rows = operations.projections(load_settings(), partitions=partitions)
    show(rows, as_json, columns=PARTITIONS if partitions else SUMMARY, wide=wide)


@projections_app.command("rebuild")
def projections_rebuild(
    name: Annotated[str | None, typer.Argument(help="The projection to rebuild")] = None,
    every: Annotated[bool, typer.Option("--all", help="Rebuild every projection")] = False,
    batch_size: Annotated[int, typer.Option(min=1, max=500_000)] = BATCH_EVENTS,
    grace_seconds: Annotated[float, typer.Option(min=0)] = 5.0,
) -> None:
    """Blue/green rebuild from the event store; resumable; live reads use the old copy."""
    settings = load_settings()
    if every == (name is not None):
        raise typer.BadParameter("name one projection, or pass --all")
    names = list(PROJECTIONS) if every else [name or ""]
    for each in names:
        rebuilder = wiring.rebuilder(settings, each, batch_size)
        with progress_bar(each) as progress:
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
    """Rebuild into a scratch copy and compare with the live one (a reactor's intake: its
    effect records against those a replay owes); exit 1 on any difference."""
    settings = load_settings()
    with progress_bar(f"verify {name}") as progress:
        report = operations.verify(settings, name, progress)
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
    show(rows, as_json, columns=VERIFIED)
    if not as_json:
        for table in report.tables:
            for row in table.differing:
                typer.echo(f"{table.table}: {row}")
    # Compared at the live projector's own positions: lag is reported, never a difference.
    typer.echo(f"{name}: {report.lag_events} event(s) not yet applied live (lag)", err=True)
    if not report.equal:
        typer.echo(f"eventshop: {name} differs from a rebuild from the event store", err=True)
        raise typer.Exit(1)


dlq_app = typer.Typer(help="Dead-letter topics.", no_args_is_help=True)


@dlq_app.command("list")
def dlq_list(
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 100,
    everything: Annotated[
        bool, typer.Option("--all", help="Include replayed and discarded letters")
    ] = False,
    as_json: AsJson = False,
    wide: Wide = False,
) -> None:
    """Pending dead letters: id, projection, origin, and the error that sent them there."""
    found = dead_letters.letters(load_settings(), include_resolved=everything)[:limit]
    show([x.as_dict() for x in found], as_json, columns=LETTERS, wide=wide)


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
    settings = load_settings()

    def rebuild(name: str) -> RebuildResult:
        with progress_bar(f"rebuild {name}") as progress:
            result = wiring.rebuilder(settings, name).run(progress, grace_seconds)
        _report_rebuild(result, err=True)  # stdout is for the outcomes (--json)
        return result

    try:
        outcomes = dead_letters.replay(settings, _letter_ids(ids, every), rebuild=rebuild)
    except dead_letters.UnknownLetterError as error:
        raise typer.BadParameter(str(error)) from error
    show([x.as_dict() for x in outcomes], as_json)
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
        outcomes = dead_letters.discard(load_settings(), _letter_ids(ids, every), note)
    except dead_letters.UnknownLetterError as error:
        raise typer.BadParameter(str(error)) from error
    show([x.as_dict() for x in outcomes], as_json)
