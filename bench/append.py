"""What a command's append costs: one ``append_events`` call against the library's insert.

One embedded PostgreSQL; a shop's recorder appends one small event per save, ``--saves``
times a side, the sides alternating ``--repeat`` times (this VM drifts between runs; pairs
cancel most of it): the library's pipelined transaction (BEGIN, SET LOCAL lock_timeout,
LOCK TABLE, NOTIFY, INSERT, COMMIT) and ours (write_side/persistence/recorder.py,
``_append``). Per save: wall time, the saving process's CPU and PostgreSQL's. Prints one
JSON line. Target: our append costs the saving process at most half the library's CPU.
Run: .venv/bin/python -m bench.append [--saves 3000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import psutil
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder

from bench.accounting import cpu_seconds, per_call
from bench.fleet import postgres_root
from bench.support import bench_stack

LIMIT = 0.5


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.append", description=__doc__.split("\n")[0])
    parser.add_argument("--saves", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    with bench_stack() as stack:
        recorder: Any = stack.commands.app.state.shop.recorder  # type: ignore[attr-defined]
        library = PostgresApplicationRecorder.insert_events.__wrapped__
        root = postgres_root(stack.settings.database_url or "")
        assert root is not None, "the embedded PostgreSQL's postmaster"
        sides: dict[str, Callable[[list[StoredEvent]], Any]] = {
            "library": lambda events: library(recorder, events),
            "append": recorder.insert_events,
        }
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in sides}
        for _ in range(args.repeat):
            for name, save in sides.items():
                runs[name].append(_measure(save, args.saves, root))
    best = {name: min(r, key=lambda m: m["client_cpu_us"]) for name, r in runs.items()}
    pairs = zip(runs["append"], runs["library"], strict=True)
    ratio = statistics.median(
        ours["client_cpu_us"] / theirs["client_cpu_us"] for ours, theirs in pairs
    )
    print(
        json.dumps(
            {
                "bench": "append",
                "saves": args.saves,
                "per_save": best,
                "client_cpu_ratio": round(ratio, 2),
                "limit": LIMIT,
                "ok": ratio <= LIMIT,
            }
        )
    )


def _measure(save: Callable[[list[StoredEvent]], Any], saves: int, root: int) -> dict[str, float]:
    def event() -> list[StoredEvent]:
        return [StoredEvent(uuid4(), 1, "bench:Appended", b'{"n": 1}')]

    for _ in range(100):  # warm: connections, prepared statements
        save(event())
    server = psutil.Process(root)
    return per_call(lambda: save(event()), saves, lambda: _cpu(server))


def _cpu(root: psutil.Process) -> float:
    return sum(cpu_seconds(p) or 0.0 for p in [root, *root.children()])


if __name__ == "__main__":
    main()
