"""CPU seconds by process kind, sampled from outside with psutil.

A sampler thread reads every member's user + system time twice a second and keeps each
pid's last reading, so a process that is killed or restarted mid-run still counts (up
to its last sample). :meth:`CpuMeter.mark` returns the totals per kind; two marks
subtracted give what a phase cost.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import psutil

Members = Callable[[], dict[str, list[psutil.Process]]]


class CpuMeter:
    def __init__(self, members: Members, interval: float = 0.5) -> None:
        self._members = members
        self._interval = interval
        self._seen: dict[int, tuple[str, float]] = {}
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
        self._sample()
        totals: dict[str, float] = {}
        with self._lock:
            for kind, seconds in self._seen.values():
                totals[kind] = totals.get(kind, 0.0) + seconds
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
            with self._lock:
                self._seen[process.pid] = (kind, seconds)


def cpu_seconds(process: psutil.Process) -> float | None:
    """User and system CPU a process has spent; None once it is gone."""
    try:
        times = process.cpu_times()
    except psutil.Error:
        return None
    return float(times.user + times.system)


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
