"""bench.accounting's context switches: per thread from /proc, kept when a thread ends."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import psutil
import pytest

from bench.accounting import CpuMeter, thread_switches

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")


def _sleeper(
    naps: int, started: threading.Event, go: threading.Event, end: threading.Event
) -> None:
    started.set()
    go.wait()
    for _ in range(naps):
        time.sleep(0.001)  # each sleep gives the core up: one voluntary switch at least
    end.wait()


def test_every_thread_of_the_process_is_read_and_a_sleep_counts() -> None:
    started, go, end = threading.Event(), threading.Event(), threading.Event()
    thread = threading.Thread(target=_sleeper, args=(20, started, go, end))
    thread.start()
    started.wait()
    try:
        before = thread_switches(os.getpid())
        tid = str(thread.native_id)
        assert tid in before and str(os.getpid()) in before
        go.set()
        time.sleep(0.3)  # the thread naps 20 times, then waits to be read
        after = thread_switches(os.getpid())
    finally:
        go.set()
        end.set()
        thread.join()
    assert after[tid] >= before[tid] + 20


def test_a_process_that_is_gone_has_no_threads() -> None:
    gone = psutil.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert thread_switches(gone.pid) == {}


#: A thread that naps 100 times, says so, lives 1 s more and ends; then the process sleeps.
_CHILD = """
import sys, threading, time
def nap():
    for _ in range(100):
        time.sleep(0.001)
    print("napped", flush=True)
    time.sleep(1.0)
thread = threading.Thread(target=nap)
thread.start()
thread.join()
time.sleep(5)
"""


def test_an_ended_thread_keeps_its_switches_in_the_total() -> None:
    child = psutil.Popen([sys.executable, "-c", _CHILD], stdout=subprocess.PIPE, text=True)
    try:
        with CpuMeter(lambda: {"child": [child]}, interval=0.05) as meter:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "napped"
            while_alive = meter.switches()["child"]
            time.sleep(1.6)  # the napping thread has ended; the main thread sleeps on
            assert len(thread_switches(child.pid)) == 1
            after_its_end = meter.switches()["child"]
    finally:
        child.kill()
        child.wait()
    assert while_alive >= 100
    assert after_its_end >= while_alive
