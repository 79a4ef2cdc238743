"""Contention on one hot product: N customers order 1 unit each of S in stock, at once.

Prints one JSON line: how many sold (must equal S), how many 409s, server-side retries,
and request latency percentiles. Run: .venv/bin/python -m bench.contention [N] [S]
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from uuid import uuid4

from fastapi.testclient import TestClient

from eventshop import wiring
from eventshop.embedded import EmbeddedPostgres
from tests.support.stack import PASSWORD, Servers, admin_token, isolated_settings, login


def main(customers: int, stock: int) -> None:
    data = Path(tempfile.mkdtemp(prefix="eventshop-bench-"))
    postgres = EmbeddedPostgres(data / "pg")
    try:
        settings = isolated_settings(Servers(postgres.start(), "unused:9092"))
        wiring.migrate(settings)
        app = wiring.command_app(settings)
        with TestClient(app) as client:
            admin = {"Authorization": f"Bearer {admin_token(settings, client)}"}
            product = client.post(
                "/products", headers=admin, json={"sku": "HOT-1", "title": "Hot", "price": 100}
            ).json()["id"]
            client.post(f"/products/{product}/stock", headers=admin, json={"delta": stock})
            client.post(f"/products/{product}/publish", headers=admin)
            tokens = []
            for n in range(customers):
                email = f"b{n}-{uuid4().hex[:6]}@example.com"
                client.post("/customers", json={"email": email, "name": "B", "password": PASSWORD})
                tokens.append(login(client, email))

            def order(token: str) -> tuple[int, float]:
                started = time.perf_counter()
                response = client.post(
                    "/orders",
                    headers={"Authorization": f"Bearer {token}"},
                    json={"lines": [{"product_id": product, "quantity": 1}]},
                )
                return response.status_code, time.perf_counter() - started

            began = time.perf_counter()
            with ThreadPoolExecutor(max_workers=customers) as pool:
                results = list(pool.map(order, tokens))
            elapsed = time.perf_counter() - began
            latencies = sorted(t for _, t in results)
            print(
                json.dumps(
                    {
                        "bench": "contention",
                        "customers": customers,
                        "stock": stock,
                        "sold": sum(s == 201 for s, _ in results),
                        "refused_409": sum(s == 409 for s, _ in results),
                        "other": sum(s not in (201, 409) for s, _ in results),
                        "server_retries": app.state.shop.contention_retries,
                        "p50_ms": round(statistics.median(latencies) * 1000, 1),
                        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1),
                        "total_s": round(elapsed, 3),
                    }
                )
            )
    finally:
        postgres.stop()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 20, int(sys.argv[2]) if len(sys.argv) > 2 else 7
    )
