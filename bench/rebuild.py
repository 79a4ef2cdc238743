"""Rebuild speed against the machine's limit and against the library's own runner.

Seeds an event store of N events (default 200,000) across every aggregate type, then
prints one JSON line with, measured in the same run on the same data:

- each projection's rebuild rate (``Rebuilder.run``: shadow build, catch-up, swap), and
  the rate of rebuilding all four one after another (``projections rebuild --all``);
- the plain limit, per projection: the same events (that projection's topics) read in the
  same batches, decoded into contract events and COPYed, one row each, into a scratch table;
- the peer: the ``eventsourcing`` library's ``ProjectionRunner`` applying the same
  projection with our SQL handlers, one event per transaction (bench/peer.py), over the
  first ``--peer-events`` events of each projection (one event per transaction makes a
  full peer run take minutes; its rate is flat over the history).

Target: every projection at least 0.5 x the plain limit and at least 10 x the peer.
Run: .venv/bin/python -m bench.rebuild [--events N] [--peer-events M] [--repeat R]
Progress goes to stderr; the JSON line to stdout.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import psycopg
import typer
from psycopg import sql
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from bench.peer import peer_rate
from bench.seed import seed
from bench.support import bench_stack
from contracts.upcasting import decode, parse_topic
from eventshop import wiring
from eventshop.settings import Settings
from projections.rebuild.rebuilder import Rebuilder
from projections.registry import PROJECTIONS
from tests.support.stack import Stack
from write_side.persistence.event_store import event_store_env

BATCH = 10_000


def main(
    events: Annotated[int, typer.Option(min=1000)] = 200_000,
    peer_events: Annotated[int, typer.Option(min=100)] = 10_000,
    repeat: Annotated[int, typer.Option(min=1)] = 3,
) -> None:
    console = Console(stderr=True)
    with bench_stack() as stack:
        settings = stack.settings
        shop = wiring.shop(settings)
        try:
            with _bar(console, "seeding", events) as (progress, task):
                stored = seed(shop, events, lambda n: progress.advance(task, n))
        finally:
            shop.close()
        # A store in use has been vacuumed and analysed; one just bulk-loaded has not, and
        # autovacuum would run in the middle of the first measurements.
        with psycopg.connect(settings.database_url or "", autocommit=True) as conn:
            conn.execute(
                sql.SQL("VACUUM ANALYZE {}").format(
                    sql.Identifier(settings.event_schema, "shop_events")
                )
            )

        # Each rate is the best of ``repeat`` runs, the plain limit's too, alternating, so
        # both meet the same noise (a 2-core VM: whatever else wakes up shows in one run).
        rebuilders = {name: wiring.rebuilder(settings, name, BATCH) for name in PROJECTIONS}
        rebuilt: dict[str, dict[str, Any]] = {}
        for name, rebuilder in rebuilders.items():
            plains, runs = [], []
            for _ in range(repeat):
                plains.append(_plain_limit(console, stack, rebuilder.store.topics)[1])
                runs.append(_rebuild(console, rebuilder))
            rebuilt[name] = max(runs, key=lambda r: r["events_per_s"]) | {"plain": max(plains)}
        all_rate, total = 0.0, 0
        for _ in range(repeat):
            began, total = time.perf_counter(), 0
            for rebuilder in rebuilders.values():
                total += _rebuild(console, rebuilder)["events"]
            all_rate = max(all_rate, total / (time.perf_counter() - began))
        # The same events through the plain path, projection after projection.
        all_plain = total / sum(r["events"] / r["plain"] for r in rebuilt.values())
        for name, rebuilder in rebuilders.items():
            rebuilt[name] |= _peer(console, stack, settings, rebuilder, peer_events)

        projections = {
            name: {
                "events": r["events"],
                "events_per_s": round(r["events_per_s"]),
                "plain_limit_events_per_s": round(r["plain"]),
                "ratio_to_plain": round(r["events_per_s"] / r["plain"], 3),
                "peer_events_per_s": round(r["peer_events_per_s"]),
                "ratio_to_peer": round(r["events_per_s"] / r["peer_events_per_s"], 1),
            }
            for name, r in rebuilt.items()
        }
        met = all(
            p["ratio_to_plain"] >= 0.5 and p["ratio_to_peer"] >= 10 for p in projections.values()
        )
        rows = {
            table: stack.sql(f"SELECT count(*) FROM {{rm}}.{table}")[0][0]
            for table in ("customers", "products", "orders", "order_lines", "sales_by_day")
        }
        print(
            json.dumps(
                {
                    "bench": "rebuild",
                    "events_in_store": stored,
                    "all": {
                        "events": total,
                        "events_per_s": round(all_rate),
                        "plain_limit_events_per_s": round(all_plain),
                        "ratio_to_plain": round(all_rate / all_plain, 3),
                    },
                    "projections": projections,
                    "peer_sample_events": peer_events,
                    "best_of": repeat,
                    "target": {"min_ratio_to_plain": 0.5, "min_ratio_to_peer": 10, "met": met},
                    "rows": rows,
                }
            )
        )


def _bar(console: Console, what: str, total: int) -> Any:
    progress = Progress(
        TextColumn(what),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=console,
        refresh_per_second=2,  # the bar must not take the measured loop's CPU
    )

    class _Bar:
        def __enter__(self) -> tuple[Progress, Any]:
            progress.start()
            self.began = time.perf_counter()
            self.task = progress.add_task(what, total=total, rate="")
            return progress, self.task

        def __exit__(self, *exc: object) -> None:
            progress.stop()

    return _Bar()


def _rebuild(console: Console, rebuilder: Rebuilder) -> dict[str, Any]:
    name = rebuilder.projection.name
    with _bar(console, f"rebuild {name}", 1) as (progress, task):
        began = time.perf_counter()

        def report(done: int, total: int) -> None:
            rate = done / max(time.perf_counter() - began, 1e-9)
            progress.update(task, completed=done, total=total, rate=f"{rate:,.0f} events/s")

        result = rebuilder.run(report)
    return {"events": result.events, "events_per_s": result.events / result.seconds}


def _plain_limit(console: Console, stack: Stack, topics: list[str]) -> tuple[int, float]:
    """Read, decode and COPY the same events, in the same batches: nothing else."""
    settings = stack.settings
    events = sql.Identifier(settings.event_schema, "shop_events")
    scratch = sql.Identifier(settings.read_schema, "bench_plain")
    with psycopg.connect(stack.settings.database_url or "") as conn:
        conn.execute(
            sql.SQL(
                "CREATE TABLE {} (notification_id bigint, aggregate_id uuid, version int,"
                " event_type text, occurred_at timestamptz)"
            ).format(scratch)
        )
        conn.commit()
        total_row = conn.execute(
            sql.SQL("SELECT count(*) FROM {} WHERE topic = ANY(%s)").format(events), (topics,)
        ).fetchone()
        conn.commit()
        total = int(total_row[0]) if total_row else 0
        after, done = 0, 0
        with _bar(console, "plain read-decode-COPY", total) as (progress, task):
            began = time.perf_counter()
            while True:
                rows = conn.execute(
                    sql.SQL(
                        "SELECT notification_id, originator_id, originator_version, topic, state"
                        " FROM {} WHERE notification_id > %s AND topic = ANY(%s)"
                        " ORDER BY notification_id LIMIT %s"
                    ).format(events),
                    (after, topics, BATCH),
                ).fetchall()
                conn.commit()
                if not rows:
                    break
                with (
                    conn.transaction(),
                    conn.cursor().copy(sql.SQL("COPY {} FROM STDIN").format(scratch)) as copy,
                ):
                    for notification_id, aggregate_id, version, topic, state in rows:
                        type_name, schema_version = parse_topic(topic)
                        event = decode(type_name, schema_version, bytes(state))
                        copy.write_row(
                            (notification_id, aggregate_id, version, type_name, event.occurred_at)
                        )
                after = int(rows[-1][0])
                done += len(rows)
                progress.update(task, completed=done)
            elapsed = time.perf_counter() - began
        conn.execute(sql.SQL("DROP TABLE {}").format(scratch))
        conn.commit()
    return done, done / elapsed


def _peer(
    console: Console, stack: Stack, settings: Settings, rebuilder: Rebuilder, sample: int
) -> dict[str, Any]:
    name = rebuilder.projection.name
    schema = f"{settings.read_schema}__peer_{name}"
    events = sql.Identifier(settings.event_schema, "shop_events")
    with psycopg.connect((stack.settings.database_url or ""), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        for table in rebuilder.projection.tables:
            conn.execute(
                sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(
                    sql.Identifier(schema, table), sql.Identifier(settings.read_schema, table)
                )
            )
        last = conn.execute(
            sql.SQL(
                "SELECT max(notification_id), count(*) FROM (SELECT notification_id FROM {}"
                " WHERE topic = ANY(%s) ORDER BY notification_id LIMIT %s) s"
            ).format(events),
            (rebuilder.store.topics, sample),
        ).fetchone()
        assert last is not None
        console.print(f"peer {name}: {last[1]} events, one per transaction …")
        rate = peer_rate(
            rebuilder.projection,
            topics=rebuilder.store.topics,
            env=event_store_env((stack.settings.database_url or ""), settings.event_schema),
            schema=schema,
            until_notification_id=int(last[0]),
            events=int(last[1]),
        )
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    return {"peer_events_per_s": rate}


if __name__ == "__main__":
    typer.run(main)
