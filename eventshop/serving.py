"""Serve an API from several processes on one port (EVENTSHOP_API_WORKERS).

Each worker is its own OS process, started and restarted by ``eventshop run``'s
supervisor, and binds the port with SO_REUSEPORT: the kernel spreads connections over the
workers that are alive, so killing one costs only the requests it was serving. Workers share
nothing in memory; what must hold across them (rate limits, idempotency) lives in
PostgreSQL.
"""

from __future__ import annotations

import asyncio
import socket

import uvicorn
from fastapi import FastAPI


def reusable_socket(host: str, port: int) -> socket.socket:
    """A listening socket other workers may bind too.

    ``IPPROTO_TCP`` explicitly: asyncio sets TCP_NODELAY only on sockets whose ``proto``
    says TCP, and a socket made with the default 0 hands that 0 to every connection it
    accepts. Without NODELAY, uvicorn's separate writes of headers and body meet the
    client's delayed ACK, and every answer waits about 40 ms.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def serve(app: FastAPI, host: str, port: int, log_level: str) -> None:
    """Run ``app`` on ``host:port`` beside any other worker bound there."""
    CalmServer(server_config(app, host, port, log_level)).run(sockets=[reusable_socket(host, port)])


def server_config(app: FastAPI, host: str, port: int, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level.lower(),
        # Both are dependencies: named, so a broken install fails here instead of quietly
        # falling back to the pure-Python parser and loop at half the speed.
        loop="uvloop",
        http="httptools",
        log_config=None,  # the root handler, with its redaction (eventshop.logs)
        # Who the client is behind a proxy is EVENTSHOP_TRUSTED_PROXIES' to say
        # (http_edge/client.py). uvicorn's own proxy headers, on by default, believed any
        # X-Forwarded-For from 127.0.0.1 before that rule ran: a local client could name
        # any address and escape the per-address limits on sign-in and registration.
        proxy_headers=False,
    )


class CalmServer(uvicorn.Server):
    """uvicorn, ticking once a second instead of ten times.

    Its loop wakes every 0.1 s to refresh the Date header (once a second) and to look for
    a stop; idle, that was a third of an idle API worker's CPU (docs/operations.md,
    "Idle"). Every tick is now a whole second's: the header is as fresh, and a stop is
    seen within a second.
    """

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 10) % 864000  # each tick refreshes the header, as uvicorn's tenth
            await asyncio.sleep(1.0)


class PortInUseError(OSError):
    """Another program (or another `eventshop run`) already listens on the port."""


def ensure_distinct(host: str, ports: list[int]) -> None:
    """Two of `eventshop run`'s servers given one port would both bind it (SO_REUSEPORT)
    and share its connections: requests for one reaching the other. Refuse to start."""
    twice = sorted({p for p in ports if ports.count(p) > 1})
    if twice:
        raise PortInUseError(
            f"{host}:{twice[0]} is configured for two of eventshop's servers:"
            " give each its own port (EVENTSHOP_*_PORT)"
        )


def ensure_free(host: str, port: int) -> None:
    """SO_REUSEPORT would let a second stack share a port silently: refuse to start.

    The probe sets SO_REUSEADDR (not SO_REUSEPORT): a listener, ours or another
    program's, still refuses it, while the TIME_WAIT connections a stopped run leaves for
    about a minute do not, so `eventshop run` starts again right after Ctrl-C.
    """
    probe = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind((host, port))
    except OSError as error:
        raise PortInUseError(f"{host}:{port} is in use (is another eventshop running?)") from error
    finally:
        probe.close()
