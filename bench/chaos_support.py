"""What the chaos scenarios share: commands as a client sends them, waits, and markers."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from uuid import uuid4

import httpx2

from bench.fleet import Fleet
from tests.support.events import events_mentioning


def sku(prefix: str) -> str:
    return f"{prefix}-{uuid4().hex[:10].upper()}"  # SKUs are stored upper-case


def create(url: str, admin: str, sku: str, key: str, timeout: float = 30) -> httpx2.Response:
    return httpx2.post(
        f"{url}/products",
        json={"sku": sku, "title": "Chaos", "price": 100},
        headers={"Authorization": f"Bearer {admin}", "Idempotency-Key": key},
        timeout=timeout,
    )


def create_retrying(url: str, admin: str, sku: str, key: str) -> httpx2.Response:
    """What a client does: retry a broken connection or a 503, with the same key."""
    for _ in range(100):
        try:
            answer = create(url, admin, sku, key)
        except httpx2.TransportError:
            time.sleep(0.2)
            continue
        if answer.status_code != 503:
            return answer
        time.sleep(0.2)
    raise AssertionError("the command API never answered the retry")


def events_per_create(fleet: Fleet, admin: str) -> int:
    """What one undisturbed create stores (the product, and its SKU's claim)."""
    marker = sku("E")
    assert create_retrying(fleet.command_url, admin, marker, uuid4().hex).status_code == 201
    return events_mentioning(fleet.settings, marker)


def armed_fired(armed: Path) -> Callable[[], bool]:
    return lambda: not armed.exists()


def wait(check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{getattr(check, '__name__', 'condition')} within {timeout}s")
        time.sleep(0.1)
