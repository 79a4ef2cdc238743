"""What every eventshop command shares: settings and logging, signals, probes, output."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

import typer
from prometheus_client import REGISTRY
from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from eventshop import logs, runtime
from eventshop.probes import StatsCollector, serve_probes
from eventshop.settings import Settings

log = logging.getLogger("eventshop")


def load_settings(*, find_running: bool = True) -> Settings:
    """Settings from the environment; with ``find_running``, server URLs not set there come
    from the ``eventshop run`` running in this checkout, if there is one."""
    settings = Settings()
    logs.configure(settings.log_level)
    return runtime.apply(settings) if find_running else settings


def stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handle(*_: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)
    return stop


def start_probes(
    port: int,
    settings: Settings,
    ready: Callable[[], bool],
    prefix: str,
    read: Callable[[], dict[str, dict[str, float]]],
) -> None:
    if port:
        REGISTRY.register(StatsCollector(prefix, read))
        serve_probes(settings.host, port, ready)


def totals(stats: object) -> dict[str, float]:
    """A stats object's counters as probe series: ``<field>_total``."""
    return {f"{k}_total": float(v) for k, v in vars(stats).items()}


#: (key, header) pairs: the columns a table shows by default, chosen to fit 80 columns.
Columns = tuple[tuple[str, str], ...]


def show(
    rows: list[dict[str, Any]],
    as_json: bool,
    *,
    single: bool = False,
    columns: Columns | None = None,
    wide: bool = False,
) -> None:
    """``--json``: every field. A table: ``columns`` only, unless ``wide``; one row
    (``single``) as field/value lines, which fit any terminal."""
    if as_json:
        typer.echo(json.dumps(rows[0] if single else rows, default=str))
        return
    if not rows:
        typer.echo("(none)")
        return
    if single:
        table = Table("field", "value", box=None)
        for key, value in rows[0].items():
            table.add_row(key, str(value))
        Console().print(table)
        return
    shown = tuple((k, k) for k in rows[0]) if wide or columns is None else columns
    table = Table(*(header for _, header in shown), box=box.SIMPLE_HEAD)
    for row in rows:
        table.add_row(*(_cell(row.get(key)) for key, _ in shown))
    Console().print(table)
    if not wide and columns is not None and len(columns) < len(rows[0]):
        typer.echo("(--wide for every column, --json for everything)", err=True)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1f}"
    return "" if value is None else str(value)


@contextmanager
def progress_bar(name: str) -> Iterator[Callable[[int, int], None]]:
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


#: ``--wait SECONDS``: a one-shot job started beside its server keeps trying this long.
WaitOption = Annotated[
    float, typer.Option("--wait", help="Keep trying this many seconds while the server is not up")
]
T = TypeVar("T")


def until_reachable(attempt: Callable[[], T], wait: float, errors: type[Exception]) -> T:
    """``attempt()``, again every second while it fails with ``errors`` and ``wait`` lasts
    (a one-shot job that compose starts beside its server); then the last error."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return attempt()
        except errors as error:
            if time.monotonic() >= deadline:
                raise
            typer.echo(f"eventshop: not reachable yet ({type(error).__name__}); retrying", err=True)
            time.sleep(1.0)
