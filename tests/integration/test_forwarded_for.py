"""Behind the real server, X-Forwarded-For counts only from EVENTSHOP_TRUSTED_PROXIES.

uvicorn rewrites the client's address from X-Forwarded-For when the peer is 127.0.0.1,
unless told not to: a client on the same host could then choose the address the
per-address limits (sign-in, registration) count it under. Served here exactly as
``eventshop serve`` serves an API (eventshop/serving.py), over real HTTP.
"""

from __future__ import annotations

import httpx2
import uvicorn
from fastapi import FastAPI, Request

from eventshop.serving import server_config
from http_edge.client import client_address, parse_networks
from tests.support.served import served


def _echo_app() -> FastAPI:
    app = FastAPI()

    @app.get("/who")
    async def who(request: Request) -> dict[str, str | None]:
        return {
            "client": request.client.host if request.client else None,
            "untrusting": client_address(request, ()),
            "behind_loopback_proxy": client_address(request, parse_networks(["127.0.0.1"])),
        }

    return app


def test_a_forwarded_address_counts_only_from_a_configured_proxy() -> None:
    def production(app: FastAPI, port: int) -> uvicorn.Config:
        return server_config(app, "127.0.0.1", port, "warning")

    with served(_echo_app(), production) as url:
        seen = httpx2.get(f"{url}/who", headers={"X-Forwarded-For": "9.9.9.9"}).json()
    assert seen["client"] == "127.0.0.1"  # the peer, not what the client wrote
    assert seen["untrusting"] == "127.0.0.1"
    # With the loopback proxy configured as trusted, the forwarded address is believed.
    assert seen["behind_loopback_proxy"] == "9.9.9.9"
