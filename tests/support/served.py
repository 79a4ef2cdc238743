"""An app served over real HTTP on loopback, for tests that need concurrent clients."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def served(
    app: FastAPI, config: Callable[[FastAPI, int], uvicorn.Config] | None = None
) -> Iterator[str]:
    """Run ``app`` under uvicorn in a thread; yield its base URL; stop it afterwards.

    ``config``: how to configure the server for a port (``eventshop.serving.server_config``
    for production's); by default a plain one."""
    port = free_port()
    if config is None:
        made = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    else:
        made = config(app, port)
    server = uvicorn.Server(made)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
