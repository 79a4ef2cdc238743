"""What ``eventshop run`` burns with no traffic: the whole stack as ``make run`` starts it.

Starts ``eventshop run`` in a data directory of its own (embedded PostgreSQL and broker,
the development mailbox and payment gateway, default workers), waits until both APIs
answer ready and every projector owns its partitions, lets it settle, then reads every
process of the tree's CPU time (psutil, from outside) over ``--seconds``. One JSON line:
percent of one core by process (child name), the eventshop processes' sum, and the sum
with the embedded servers. The target (docs/benchmarks.md): eventshop at most 2 %.

Run: .venv/bin/python -m bench.idle [--seconds 60] [--settle 10]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2
import psutil

from bench.accounting import cpu_seconds
from eventshop.embedded import free_port

#: Children named by what their command line runs (``eventshop <args>``), the servers apart.
SERVERS = {"postgres": "postgres", "tansu": "broker"}


def kind(process: psutil.Process) -> str:
    try:
        line = process.cmdline()
    except psutil.Error:
        return "gone"
    for marker, name in SERVERS.items():
        if line and marker in Path(line[0]).name:
            return name
    if "eventshop.cli" in line:
        args = line[line.index("eventshop.cli") + 1 :]
        return " ".join(args) or "eventshop"
    return Path(line[0]).name if line else "unknown"


def wait_ready(urls: list[str], deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            if all(httpx2.get(u, timeout=2).status_code == 200 for u in urls):
                return
        except httpx2.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"bench.idle: not ready: {urls}")


def members(root: psutil.Process, data: Path) -> list[psutil.Process]:
    """The run's tree, and the embedded PostgreSQL (pg_ctl detaches it) found by its data."""
    tree = [root, *root.children(recursive=True)]
    pids = {p.pid for p in tree}
    for process in psutil.process_iter(["cmdline"]):
        line = process.info["cmdline"] or []
        if process.pid not in pids and any(str(data) in part for part in line):
            tree += [process, *process.children(recursive=True)]
    return tree


def cpu_by_kind(root: psutil.Process, data: Path) -> dict[str, float]:
    totals: dict[str, float] = {}
    for process in members(root, data):
        seconds = cpu_seconds(process)
        if seconds is None:
            continue
        name = "run" if process.pid == root.pid else kind(process)
        totals[name] = totals.get(name, 0.0) + seconds
    return totals


def measure(seconds: float, settle: float) -> dict[str, object]:
    data = Path(tempfile.mkdtemp(prefix="eventshop-idle-"))
    ports = {p: str(free_port()) for p in ("COMMAND", "QUERY", "GATEWAY", "SMTP")}
    probe = str(free_port())
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTSHOP_")}
    env.update({f"EVENTSHOP_{p}_PORT": port for p, port in ports.items()})
    env.update(
        EVENTSHOP_DATA_DIR=str(data),
        EVENTSHOP_EMBEDDED_KAFKA_PORT=str(free_port()),
        EVENTSHOP_PROJECTOR_PROBE_PORT=probe,
        PYTHONPATH=os.getcwd(),  # this checkout's code, as bench.system runs it
    )
    run = subprocess.Popen(
        [sys.executable, "-m", "eventshop.cli", "run"],
        env=env,
        cwd=data,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        urls = [f"http://127.0.0.1:{ports[p]}/readyz" for p in ("COMMAND", "QUERY")]
        wait_ready([*urls, f"http://127.0.0.1:{probe}/readyz"], time.monotonic() + 120)
        time.sleep(settle)
        root = psutil.Process(run.pid)
        before = cpu_by_kind(root, data)
        time.sleep(seconds)
        after = cpu_by_kind(root, data)
    finally:
        os.killpg(run.pid, signal.SIGINT)
        try:
            run.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGKILL)
        shutil.rmtree(data, ignore_errors=True)
    busy = {k: round((after[k] - before.get(k, 0.0)) / seconds * 100, 2) for k in sorted(after)}
    ours = sum(v for k, v in busy.items() if k not in SERVERS.values())
    return {
        "bench": "idle",
        "seconds": seconds,
        "cpu_percent_of_one_core": busy,
        "eventshop_percent": round(ours, 2),
        "with_servers_percent": round(sum(busy.values()), 2),
        "limit_percent": 2.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.idle", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--settle", type=float, default=10.0)
    args = parser.parse_args()
    print(json.dumps(measure(args.seconds, args.settle)), flush=True)


if __name__ == "__main__":
    main()
