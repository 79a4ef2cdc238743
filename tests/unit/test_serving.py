"""The workers' shared listening socket: connections it accepts get TCP_NODELAY.

Without it every answer of `eventshop run`'s APIs waited about 40 ms (Nagle's algorithm
against the client's delayed ACK): asyncio sets NODELAY only on sockets whose ``proto``
is IPPROTO_TCP, and an accepted socket inherits the listener's.
"""

from __future__ import annotations

import asyncio
import os
import socket

import pytest

from eventshop.serving import PortInUseError, ensure_distinct, ensure_free, reusable_socket
from eventshop.settings import Settings


def test_connections_accepted_by_the_shared_socket_do_not_wait_for_acks() -> None:
    async def accepted_nodelay() -> int:
        listener = reusable_socket("127.0.0.1", 0)
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sock = transport.get_extra_info("socket")
                seen.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

        server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
        port = listener.getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            return await asyncio.wait_for(seen, 5)
        finally:
            writer.close()
            server.close()

    assert asyncio.run(accepted_nodelay()) != 0


def _served_and_closed_first() -> int:
    """A port whose server answered a client and closed the connection first, then stopped
    listening: the kernel keeps the server side in TIME_WAIT for about a minute."""
    listener = reusable_socket("127.0.0.1", 0)
    listener.listen()
    port: int = listener.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    served, _ = listener.accept()
    served.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    served.close()  # the server closes first, as uvicorn does on shutdown
    client.recv(100)
    client.close()
    listener.close()
    return port


def test_a_port_just_served_is_free_again_at_once() -> None:
    port = _served_and_closed_first()
    ensure_free("127.0.0.1", port)  # TIME_WAIT is no listener: `eventshop run` may start


def test_a_live_listener_still_refuses_the_start() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    try:
        with pytest.raises(PortInUseError):
            ensure_free("127.0.0.1", listener.getsockname()[1])
    finally:
        listener.close()


def test_a_listener_of_another_eventshop_refuses_the_start_too() -> None:
    listener = reusable_socket("127.0.0.1", 0)  # SO_REUSEPORT, as our own workers bind
    listener.listen()
    try:
        with pytest.raises(PortInUseError):
            ensure_free("127.0.0.1", listener.getsockname()[1])
    finally:
        listener.close()


@pytest.mark.parametrize(("cores", "workers"), [(None, 1), (1, 1), (2, 1), (3, 1), (8, 4)])
def test_the_two_apis_take_one_worker_per_core_between_them(
    monkeypatch: pytest.MonkeyPatch, cores: int | None, workers: int
) -> None:
    # One worker each on 2 cores measured cheaper and faster than two (docs/operations.md).
    monkeypatch.delenv("EVENTSHOP_API_WORKERS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    assert Settings().api_workers == workers


def test_two_servers_on_one_port_refuse_the_start() -> None:
    ensure_distinct("127.0.0.1", [8001, 8002, 8005, 8025])
    with pytest.raises(PortInUseError, match=r"127\.0\.0\.1:8001 is configured for two"):
        ensure_distinct("127.0.0.1", [8001, 8002, 8001, 8025])
