"""Where each kind of process spends its time under load: py-spy on the whole fleet.

Starts the fleet as ``bench.system`` does (embedded servers unless
``EVENTSHOP_BENCH_DATABASE_URL`` / ``EVENTSHOP_BENCH_KAFKA_BOOTSTRAP_SERVERS`` say
otherwise), warms it up for ``--warmup`` seconds at ``--rate``, then records every process
of the fleet with ``py-spy record -f raw`` for ``--seconds`` while the same load runs on.
One JSON line per process kind: samples, and the costliest frames by own and by inclusive
time in percent of that kind's samples (bench/stacks.py). ``--out DIR`` keeps the raw
stacks, one file per process, for a flame graph or a closer look.

``--mode gil`` (the default) samples only the thread holding the GIL: Python's own work,
blind to C code that releases the GIL (argon2, a psycopg wait), but not to system calls
made with the GIL held (a libpq send). ``--mode threads`` samples every thread py-spy does
not judge idle (its default): waits it cannot tell from work (a selector's, a psycopg
wait) show up, so read it as where the threads are, not what they cost.

Needs py-spy (``make install`` installs it) and the right to trace the fleet's processes
(root, or ``kernel.yama.ptrace_scope`` 0). Not part of ``make test``: a tool for the
closing notes' before-and-after profiles (docs/benchmarks.md, ``bench.profile``).

Run: .venv/bin/python -m bench.profile [--rate 80] [--seconds 12] [--top 15] [--out DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.fleet import ADMIN, KINDS, Fleet
from bench.stacks import fold_files
from bench.system import measured_fleet
from bench.workload import Shopper


def py_spy() -> str | None:
    """The py-spy next to this interpreter (the venv's), else one on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def record(
    spy: str, fleet: Fleet, args: argparse.Namespace, out: Path
) -> list[tuple[str, Path, subprocess.Popen[bytes]]]:
    """Start one recorder per Python process of the fleet (not the servers)."""
    recorders = []
    for kind, processes in fleet.members().items():
        if kind not in KINDS.values():
            continue
        for process in processes:
            raw = out / f"{kind}.{process.pid}.txt"
            command = [spy, "record", "-f", "raw", "-r", str(args.sample_rate)]
            command += ["-d", str(int(args.seconds))]
            command += ["--nonblocking", "-o", str(raw), "-p", str(process.pid)]
            if args.mode == "gil":
                command.append("--gil")
            started = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            recorders.append((kind, raw, started))
    return recorders


def summarize(
    recorders: list[tuple[str, Path, subprocess.Popen[bytes]]], top: int
) -> list[dict[str, Any]]:
    """Wait for the recorders; one line per kind (its processes' samples summed)."""
    files: dict[str, list[Path]] = {}
    failures: dict[str, list[str]] = {}
    for kind, raw, recorder in recorders:
        _, err = recorder.communicate()
        if recorder.returncode == 0 and raw.exists():
            files.setdefault(kind, []).append(raw)
        else:
            said = err.decode(errors="replace").strip().splitlines()
            failures.setdefault(kind, []).append(
                said[-1] if said else f"exit {recorder.returncode}"
            )
    lines = []
    for kind in sorted({kind for kind, _, _ in recorders}):
        folded = fold_files(files.get(kind, []))
        line: dict[str, Any] = {
            "bench": "profile",
            "kind": kind,
            "processes": len(files.get(kind, [])),
            "samples": folded.samples,
            **folded.top(top),
        }
        if kind in failures:
            line["failed"] = failures[kind]
        lines.append(line)
    return lines


async def profile(fleet: Fleet, args: argparse.Namespace, spy: str, out: Path) -> list[Any]:
    shopper = Shopper(fleet.command_url, fleet.query_url)
    try:
        await shopper.setup(ADMIN)
        await shopper.fixed_rate(args.rate, args.warmup)
        recorders = record(spy, fleet, args, out)
        tally = await shopper.fixed_rate(args.rate, args.seconds)
        lines = await asyncio.to_thread(summarize, recorders, args.top)
    finally:
        await shopper.close()
    answered = sum(len(v) for v in tally.latency.values())
    load = {"bench": "profile", "phase": "load", "mode": args.mode, "rate": args.rate}
    load |= {"seconds": args.seconds, "answered": answered, "unexpected_5xx": len(tally.unexpected)}
    return [load, *lines]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.profile", description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=80.0, help="operations/s, as bench.system")
    parser.add_argument("--seconds", type=float, default=12.0, help="recorded")
    parser.add_argument("--warmup", type=float, default=5.0, help="load before recording")
    parser.add_argument("--sample-rate", type=int, default=200, help="py-spy samples/s")
    parser.add_argument("--mode", choices=("gil", "threads"), default="gil")
    parser.add_argument("--top", type=int, default=15, help="frames per list")
    parser.add_argument("--projectors", type=int, default=2, help="instances per group")
    parser.add_argument("--out", type=Path, default=None, help="keep the raw stacks here")
    args = parser.parse_args(argv)
    spy = py_spy()
    if spy is None:
        print("bench.profile: py-spy is not installed (make install)", file=sys.stderr)
        return 2
    out = args.out or Path(tempfile.mkdtemp(prefix="eventshop-profile-"))
    out.mkdir(parents=True, exist_ok=True)
    try:
        with measured_fleet(None, args.projectors) as fleet:
            lines = asyncio.run(profile(fleet, args, spy, out))
    finally:
        if args.out is None:
            shutil.rmtree(out, ignore_errors=True)
    for line in lines:
        print(json.dumps(line), flush=True)
    failed = [line["kind"] for line in lines if line.get("failed")]
    if failed:
        print(f"bench.profile: no profile of {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
