"""The workers' shared listening socket: connections it accepts get TCP_NODELAY.

Without it every answer of `eventshop run`'s APIs waited about 40 ms (Nagle's algorithm
against the client's delayed ACK): asyncio sets NODELAY only on sockets whose ``proto``
is IPPROTO_TCP, and an accepted socket inherits the listener's.
"""

from __future__ import annotations

import asyncio
import socket

from eventshop.serving import reusable_socket


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
