"""CPU seconds and context switches by process kind, sampled from outside.

A sampler thread reads every member's user + system time (psutil) twice a second and keeps
each pid's last reading, so a process that is killed or restarted mid-run still counts (up
to its last sample). :meth:`CpuMeter.mark` returns the totals per kind; two marks
subtracted give what a phase cost. :meth:`CpuMeter.switches` does the same for context
switches, voluntary and not, summed over each process's threads (Linux's
``/proc/<pid>/task``; each thread's last reading is kept, as a process's is): what
py-spy cannot show, the price of every hand-off between threads and processes and of
every statement that wakes a PostgreSQL backend.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable

import psutil

Members = Callable[[], dict[str, list[psutil.Process]]]


class CpuMeter:
    def __init__(self, members: Members, interval: float = 0.5) -> None:
        self._members = members
        self._interval = interval
        self._seen: dict[int, tuple[str, float]] = {}
        self._switched: dict[tuple[int, str], tuple[str, int]] = {}  # (pid, tid) -> count
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._me = psutil.Process()
        self._thread = threading.Thread(target=self._run, daemon=True, name="cpu-meter")

    def __enter__(self) -> CpuMeter:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def mark(self) -> dict[str, float]:
        """CPU seconds so far per kind."""
        return self._totals(self._seen.values())

    def switches(self) -> dict[str, float]:
        """Context switches so far per kind (none counted but on Linux)."""
        return self._totals(self._switched.values())

    def _totals(self, readings: Iterable[tuple[str, float]]) -> dict[str, float]:
        self._sample()
        totals: dict[str, float] = {}
        with self._lock:
            for kind, amount in readings:
                totals[kind] = totals.get(kind, 0.0) + amount
        return totals

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def _sample(self) -> None:
        readings = [("bench_client", self._me)]
        readings += [(k, p) for k, ps in self._members().items() for p in ps]
        for kind, process in readings:
            seconds = cpu_seconds(process)
            if seconds is None:
                continue
            threads = thread_switches(process.pid)
            with self._lock:
                self._seen[process.pid] = (kind, seconds)
                for tid, count in threads.items():
                    self._switched[process.pid, tid] = (kind, count)


def cpu_seconds(process: psutil.Process) -> float | None:
    """User and system CPU a process has spent; None once it is gone."""
    try:
        times = process.cpu_times()
    except psutil.Error:
        return None
    return float(times.user + times.system)


def thread_switches(pid: int) -> dict[str, int]:
    """Each live thread's context switches so far (voluntary + involuntary), by thread id."""
    found: dict[str, int] = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/status", encoding="ascii") as status:
                lines = status.read().splitlines()
        except OSError:
            continue  # the thread ended meanwhile
        total = 0
        for line in lines:
            name, _, value = line.partition(":")
            if name in _SWITCH_FIELDS:
                total += int(value)
        found[tid] = total
    return found


_SWITCH_FIELDS = ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")


def spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: round(after.get(k, 0.0) - before.get(k, 0.0), 3) for k in sorted(after)}


def per_call(
    action: Callable[[], object], calls: int, server_cpu: Callable[[], float]
) -> dict[str, float]:
    """Run ``action`` ``calls`` times; µs a call of wall time, of this process's CPU and of
    the server's (``server_cpu()``, seconds, read before and after)."""
    cpu0, wall0, pg0 = time.process_time(), time.perf_counter(), server_cpu()
    for _ in range(calls):
        action()
    cpu1, wall1, pg1 = time.process_time(), time.perf_counter(), server_cpu()
    return {
        "wall_us": round(1e6 * (wall1 - wall0) / calls),
        "client_cpu_us": round(1e6 * (cpu1 - cpu0) / calls),
        "postgres_cpu_us": round(1e6 * (pg1 - pg0) / calls),
    }
