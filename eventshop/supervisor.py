"""A small process supervisor for ``eventshop run``: start, restart with backoff, stop cleanly."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from eventshop.embedded import _die_with_parent

log = logging.getLogger(__name__)

#: How often a running server is looked at (the embedded PostgreSQL's check reads its pid
#: file and /proc: four times a second was most of an idle supervisor's CPU).
SERVER_CHECK_SECONDS = 1.0


@dataclass
class Child:
    name: str
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0
    backoff: float = field(default=0.5)


@dataclass
class Server:
    """A server the supervisor owns but did not spawn as a child (the embedded PostgreSQL
    daemonizes): ``ensure()`` starts it again if it died, True when it had to."""

    name: str
    ensure: Callable[[], bool]
    next_try: float = 0.0
    backoff: float = 0.5


class Supervisor:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.children: list[Child] = []
        self.servers: list[Server] = []

    def add(self, name: str, *cli_args: str, env: dict[str, str] | None = None) -> None:
        """Supervise ``eventshop <cli_args>``; ``env`` adds to the shared environment."""
        args = [sys.executable, "-m", "eventshop.cli", *cli_args]
        self.children.append(Child(name, args, env or {}))

    def watch(self, name: str, ensure: Callable[[], bool]) -> None:
        """Keep a server running: ``ensure()`` is called every round, retried with backoff."""
        self.servers.append(Server(name, ensure))

    def tend(self) -> None:
        """Restart dead servers, start children not running yet, and restart the dead
        ones (with backoff)."""
        for server in self.servers:
            self._keep(server)
        for child in self.children:
            self._tend(child)

    @staticmethod
    def _keep(server: Server) -> None:
        if time.monotonic() < server.next_try:
            return
        try:
            if server.ensure():
                log.warning("%s restarted", server.name)
            server.backoff = 0.5
            server.next_try = time.monotonic() + SERVER_CHECK_SECONDS
        except Exception as error:  # any failure to start: try again later
            log.warning(
                "%s could not start (%s: %s); trying again in %.1fs",
                server.name,
                type(error).__name__,
                error,
                server.backoff,
            )
            server.next_try = time.monotonic() + server.backoff
            server.backoff = min(server.backoff * 2, 10.0)

    def run(self, stop: threading.Event) -> None:
        """Keep every child running until ``stop``; then terminate them all."""
        try:
            while not stop.is_set():
                self.tend()
                stop.wait(0.25)
        finally:
            self.stop_all()

    def _tend(self, child: Child) -> None:
        process = child.process
        if process is not None and process.poll() is None:
            if time.monotonic() - child.next_start > 30:
                child.backoff = 0.5  # it has stayed up: forget earlier crashes
            return
        if process is not None:
            log.warning(
                "%s exited with %s; restarting in %.1fs",
                child.name,
                process.returncode,
                child.backoff,
            )
            child.process = None
            child.restarts += 1
            child.next_start = time.monotonic() + child.backoff
            child.backoff = min(child.backoff * 2, 10.0)
            return
        if time.monotonic() >= child.next_start:
            child.process = subprocess.Popen(  # noqa: S603 - our own CLI
                child.args,
                env={**self.env, **child.env},
                preexec_fn=_die_with_parent,  # noqa: PLW1509
            )
            child.next_start = time.monotonic()

    def stop_all(self, timeout: float = 10.0) -> None:
        running = [c.process for c in self.children if c.process and c.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in running:
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def child_env(overrides: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(overrides)
    return env
