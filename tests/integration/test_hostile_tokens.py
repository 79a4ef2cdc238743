"""Consistency tokens from hostile clients cost nothing and starve no one (guarantees 7 and 9,
docs/architecture.md).

Tokens are signed: a forged or altered one is 400 at once. A signed token naming an
event beyond the event store's head is refused, not waited on. A request waiting for an
honest token holds no pooled connection and no worker thread, and each process caps
the number of waiters. So an honest query answers at once whatever the others send.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx2
import orjson
import pytest

from contracts.consistency import PartitionMark, encode_token, token_key
from contracts.topics import partition_for, topic_name
from eventshop import wiring
from tests.support.served import served
from tests.support.stack import Servers, Stack, eventually, running_stack

TOKEN = "X-Consistency-Token"


@pytest.fixture(scope="module")
def stack(servers: Servers) -> Iterator[Stack]:
    with running_stack(servers, consistency_wait_seconds=2.0) as stack:
        yield stack


def _published_product(stack: Stack) -> tuple[str, str]:
    """A product the products read model shows; then the relay and projector stop."""
    stack.start_relay()
    stack.start_projectors("products")
    created = stack.admin.post(
        "/products", json={"sku": f"H-{time.time_ns()}", "title": "H", "price": 5}
    )
    product_id = created.json()["id"]
    published = stack.admin.post(f"/products/{product_id}/publish")
    seen = stack.queries.get(f"/products/{product_id}", headers={TOKEN: published.headers[TOKEN]})
    assert seen.status_code == 200, seen.text
    stack.stop.set()
    for thread in stack.threads:
        thread.join(timeout=15)
    # From here on nothing reaches the read model: every honest token waits its full bound.
    later = stack.admin.post(f"/products/{product_id}/stock", json={"delta": 1})
    return product_id, later.headers[TOKEN]


def _unsigned(marks: list[list[object]]) -> str:
    return "v1." + base64.urlsafe_b64encode(orjson.dumps(marks)).rstrip(b"=").decode()


def test_fifty_hostile_token_reads_do_not_slow_an_honest_query(stack: Stack) -> None:
    product_id, waiting = _published_product(stack)
    catalog = topic_name("catalog", stack.settings.topic_prefix)
    key = token_key(stack.settings.jwt_secret.get_secret_value())
    far_ahead = encode_token([PartitionMark(catalog, partition_for(product_id), 10**12)], key)
    hostile = (
        [_unsigned([[catalog, p % 3, 10**12]]) for p in range(20)]
        + [far_ahead] * 10
        + [waiting] * 20
    )
    app = wiring.query_app(stack.settings)
    with served(app) as url, ThreadPoolExecutor(50) as pool:
        assert httpx2.get(f"{url}/products/{product_id}").status_code == 200  # a warm pool

        def hostile_read(token: str) -> int:
            with httpx2.Client(base_url=url, timeout=30) as client:
                return client.get("/products", headers={TOKEN: token}).status_code

        futures = [pool.submit(hostile_read, token) for token in hostile]
        # All of them sent: the refused ones answered, the rest waiting.
        eventually(
            lambda: app.state.query.watcher.waiting == 20 and all(f.done() for f in futures[:30])
        )
        with httpx2.Client(base_url=url, timeout=30) as honest:
            for _ in range(20):
                started = time.monotonic()
                response = honest.get(f"/products/{product_id}")
                elapsed = time.monotonic() - started
                assert response.status_code == 200, response.text
                assert elapsed < 0.1, f"an honest query took {elapsed * 1000:.0f} ms"
        statuses = [f.result() for f in futures]
    assert statuses == [400] * 30 + [503] * 20  # forged, beyond the head; waited the bound


def test_waiters_past_the_cap_are_503_at_once(stack: Stack) -> None:
    created = stack.admin.post(
        "/products", json={"sku": f"C-{time.time_ns()}", "title": "C", "price": 5}
    )
    waiting = created.headers[TOKEN]  # no projector runs in this test: it waits its bound
    settings = stack.settings.model_copy(update={"consistency_max_waiters": 5})
    with served(wiring.query_app(settings)) as url, ThreadPoolExecutor(12) as pool:

        def read() -> tuple[int, float, str | None]:
            with httpx2.Client(base_url=url, timeout=30) as client:
                started = time.monotonic()
                response = client.get("/products", headers={TOKEN: waiting})
                code = response.json()["code"]
                return response.status_code, time.monotonic() - started, code

        outcomes = [f.result() for f in [pool.submit(read) for _ in range(12)]]
    refused = [o for o in outcomes if o[2] == "TOO_MANY_WAITERS"]
    timed_out = [o for o in outcomes if o[2] == "CONSISTENCY_TIMEOUT"]
    assert len(timed_out) == 5 and len(refused) == 7, outcomes
    assert all(status == 503 and seconds < 1.0 for status, seconds, _ in refused)
