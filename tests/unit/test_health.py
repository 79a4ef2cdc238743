"""/healthz answers while every worker thread is busy (http_edge/health.py)."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
import httpx2
from fastapi import FastAPI

from http_edge.health import health_router
from tests.support.served import served


def test_liveness_needs_no_worker_thread() -> None:
    entered, release = threading.Event(), threading.Event()

    @asynccontextmanager
    async def one_thread(_: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = 1
        yield

    app = FastAPI(lifespan=one_thread)
    app.include_router(health_router(lambda: None, "nothing", ()))

    @app.get("/busy")
    def busy() -> None:  # a sync route: holds the only worker thread until released
        entered.set()
        release.wait(10)

    with served(app) as url:
        hold = threading.Thread(target=lambda: httpx2.get(f"{url}/busy", timeout=15))
        hold.start()
        try:
            assert entered.wait(5)
            answer = httpx2.get(f"{url}/healthz", timeout=3)
            assert answer.status_code == 200 and answer.json() == {"status": "ok"}
        finally:
            release.set()
            hold.join()
