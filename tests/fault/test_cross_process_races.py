"""Races between processes: what the in-process aggregate locks cannot serialize.

Two real command-API processes, sharing nothing but PostgreSQL, take 50 restocks of one
product at once (25 each): every adjustment lands exactly once (``on_hand`` exact, one
event each), and a lost race is re-run on the server, so no client is refused.
"""

from __future__ import annotations

import subprocess
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from uuid import UUID, uuid4

import httpx2

from eventshop.embedded import free_port
from tests.support.events import ready
from tests.support.stack import Servers, eventually, running_stack


def test_fifty_restocks_over_two_worker_processes_all_land_exactly_once(
    servers: Servers,
) -> None:
    with running_stack(servers) as stack:
        ports = [free_port(), free_port()]
        workers: list[subprocess.Popen[bytes]] = [
            stack.child("serve", "command", EVENTSHOP_COMMAND_PORT=str(port)) for port in ports
        ]
        try:
            for port in ports:
                eventually(partial(ready, f"http://127.0.0.1:{port}/readyz"), timeout=60)
            body = {"sku": f"R-{uuid4().hex[:8]}", "title": "Race", "price": 100}
            product = stack.admin.post("/products", json=body).json()["id"]
            bearer = {"Authorization": stack.admin.headers["Authorization"]}

            def restock(n: int) -> httpx2.Response:
                port = ports[n % 2]  # half to each process
                return httpx2.post(
                    f"http://127.0.0.1:{port}/products/{product}/stock",
                    json={"delta": 1},
                    headers=bearer,
                    timeout=30,
                )

            with ThreadPoolExecutor(max_workers=50) as pool:
                answers = list(pool.map(restock, range(50)))
        finally:
            for worker in workers:
                worker.terminate()
                worker.wait(timeout=30)
        statuses = Counter(a.status_code for a in answers)
        assert statuses == {200: 50}, [a.text for a in answers if a.status_code != 200]
        shop = stack.commands.app.state.shop  # type: ignore[attr-defined]
        assert shop.get_product(UUID(product)).on_hand == 50
        events = stack.sql(
            "SELECT count(*) FROM {es}.shop_events WHERE originator_id = %s", product
        )
        assert events == [(51,)]  # created, and each adjustment once
