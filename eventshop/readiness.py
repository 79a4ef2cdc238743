"""Wait until the stack `eventshop run` started can serve a read with a token.

The banner is printed only once both APIs are ready and every projector instance holds
its partitions (their probes' /readyz), so a user's first read with a consistency token
right after the banner is answered, not a 503 while a consumer group is still joining.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from eventshop.settings import Settings


def probe_urls(settings: Settings) -> list[str]:
    base = f"http://{settings.host}"
    urls = [f"{base}:{settings.command_port}/readyz", f"{base}:{settings.query_port}/readyz"]
    if not settings.gateway_url:  # `eventshop run` starts the fake gateway
        urls.append(f"{base}:{settings.gateway_port}/healthz")
    if settings.reactor_probe_port:
        urls.append(f"{base}:{settings.reactor_probe_port}/readyz")
    if settings.projector_probe_port:
        urls += [
            f"{base}:{settings.projector_probe_port + 10 * n}/readyz"
            for n in range(settings.projector_processes)
        ]
    return urls


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - our loopback
            return int(response.status) == 200
    except (urllib.error.URLError, OSError):
        return False


def wait_until_ready(
    urls: list[str], stop: threading.Event, tend: Callable[[], None], timeout: float = 120.0
) -> list[str]:
    """Poll ``urls`` (keeping the children tended) until all answer 200; returns those
    still not ready when ``timeout`` passes or ``stop`` is set."""
    deadline = time.monotonic() + timeout
    pending = list(urls)
    while pending and not stop.is_set() and time.monotonic() < deadline:
        tend()
        pending = [url for url in pending if not _ready(url)]
        if pending:
            stop.wait(0.25)
    return pending
