"""A TCP proxy in front of PostgreSQL that can drop a connection around a COMMIT.

The chaos bench points one command API worker at it. Armed with :meth:`PgProxy.drop` and a
marker (bytes the transaction sends: an idempotency key, an id, bound as a parameter on
every execution, unlike statement text, which psycopg stops sending once a statement is
prepared), the next connection that sends ``COMMIT`` after the marker is cut:

- ``before``: the COMMIT never reaches the server, so the transaction rolls back;
- ``after``: the COMMIT reaches the server and commits, and its answer is thrown away.

A statement outside a transaction block commits on its own, at the ``Sync`` that ends it
(a command's events append so: write_side/persistence/recorder.py): arm with ``at=SYNC``.

Either way the worker's driver sees the connection die mid-transaction, exactly as when a
network path or a PostgreSQL backend dies. Everything else is passed through unchanged.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Literal

from psycopg.conninfo import conninfo_to_dict

Moment = Literal["before", "after"]
COMMIT = b"COMMIT\x00"  # the query text, NUL-terminated, in a Query or Parse message
SYNC = b"S\x00\x00\x00\x04"  # the extended protocol's Sync message, which ends a statement


def upstream_address(database_url: str) -> tuple[int, str | tuple[str, int]]:
    """(address family, address) of the server a libpq URL names."""
    info = conninfo_to_dict(database_url)
    host, port = str(info.get("host") or "127.0.0.1"), int(info.get("port") or 5432)
    if host.startswith("/"):
        return socket.AF_UNIX, f"{host}/.s.PGSQL.{port}"
    return socket.AF_INET, (host, port)


def through(database_url: str, port: int) -> str:
    """``database_url`` with its host and port replaced by the proxy's."""
    info = conninfo_to_dict(database_url)
    user, dbname = info.get("user", "postgres"), info.get("dbname", "postgres")
    password = f":{info['password']}" if info.get("password") else ""
    return f"postgresql://{user}{password}@127.0.0.1:{port}/{dbname}"


class PgProxy:
    def __init__(self, database_url: str) -> None:
        self.family, self.address = upstream_address(database_url)
        self.database_url = database_url
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._armed: tuple[Moment, bytes, bytes] | None = None
        self._lock = threading.Lock()
        self.dropped: list[Moment] = []
        threading.Thread(target=self._accept, daemon=True, name="pg-proxy").start()

    @property
    def url(self) -> str:
        return through(self.database_url, self.port)

    def drop(self, moment: Moment, marker: bytes, at: bytes = COMMIT) -> None:
        """Cut the next connection that sends ``marker`` then ``at`` (the commit),
        ``moment`` the commit."""
        with self._lock:
            self._armed = (moment, marker, at)

    def wait_dropped(self, count: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.dropped) < count:
            if time.monotonic() > deadline:
                raise TimeoutError("no COMMIT after the marker came through the proxy")
            time.sleep(0.01)

    def close(self) -> None:
        # Shut down first: close() alone does not wake the thread blocked in accept().
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.socket(self.family, socket.SOCK_STREAM)
            try:
                server.connect(self.address)
            except OSError:  # the server is gone (the session's end): refuse, as it would
                _cut(client, server)
                continue
            muted = threading.Event()  # set: the server's answers are thrown away
            threading.Thread(
                target=self._pump_up, args=(client, server, muted), daemon=True
            ).start()
            threading.Thread(
                target=self._pump_down, args=(server, client, muted), daemon=True
            ).start()

    def _armed_with(self) -> tuple[bytes, bytes] | None:
        """(marker, commit) while armed."""
        with self._lock:
            return self._armed[1:] if self._armed else None

    def _take(self, moment: Moment) -> bool:
        with self._lock:
            if self._armed is None or self._armed[0] != moment:
                return False
            self._armed = None
            self.dropped.append(moment)
            return True

    def _pump_up(
        self, client: socket.socket, server: socket.socket, muted: threading.Event
    ) -> None:
        """Client to server; watches for the marker, then its transaction's COMMIT."""
        keyed = False
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                armed = self._armed_with()
                keyed = keyed or bool(armed and armed[0] in data)
                if keyed and armed and armed[1] in data:
                    keyed = False
                    if self._take("before"):
                        return _cut(client, server)
                    if self._take("after"):
                        muted.set()
                        server.sendall(data)
                        time.sleep(0.2)  # the server commits; its answer is not passed on
                        return _cut(client, server)
                server.sendall(data)
        _cut(client, server)

    @staticmethod
    def _pump_down(server: socket.socket, client: socket.socket, muted: threading.Event) -> None:
        with contextlib.suppress(OSError):
            while data := server.recv(65536):
                if not muted.is_set():
                    client.sendall(data)
        _cut(client, server)


def _cut(*sockets: socket.socket) -> None:
    for s in sockets:
        with contextlib.suppress(OSError):
            s.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            s.close()
