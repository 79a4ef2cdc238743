"""/healthz, /readyz and /metrics for the processes that have no HTTP API of their own.

The relay, the projectors and the payment sweeper serve these on a small side port,
so an orchestrator can probe them and Prometheus can scrape their counters.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector


class StatsCollector(Collector):
    """Exposes ``read()``'s numbers: counters for names ending in ``_total``, else gauges."""

    def __init__(self, prefix: str, read: Callable[[], dict[str, dict[str, float]]]) -> None:
        self.prefix = prefix
        self.read = read

    def collect(self) -> Iterable[CounterMetricFamily | GaugeMetricFamily]:
        families: dict[str, CounterMetricFamily | GaugeMetricFamily] = {}
        for label, numbers in self.read().items():
            for name, value in numbers.items():
                full = f"{self.prefix}_{name}"
                if full not in families:
                    families[full] = (
                        CounterMetricFamily(full.removesuffix("_total"), name, labels=["name"])
                        if name.endswith("_total")
                        else GaugeMetricFamily(full, name, labels=["name"])
                    )
                families[full].add_metric([label], value)
        yield from families.values()


def serve_probes(
    host: str, port: int, ready: Callable[[], bool], registry: CollectorRegistry = REGISTRY
) -> ThreadingHTTPServer:
    """Start the probe server in a daemon thread; ``ready()`` decides /readyz, and
    /metrics renders ``registry``."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/healthz":
                self._send(200, b'{"status": "ok"}', "application/json")
            elif self.path == "/readyz":
                ok = ready()
                self._send(
                    200 if ok else 503,
                    b'{"status": "%s"}' % (b"ready" if ok else b"not ready"),
                    "application/json",
                )
            elif self.path == "/metrics":
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            else:
                self._send(
                    404,
                    b'{"status": 404, "code": "NOT_FOUND", "title": "Not found"}',
                    "application/problem+json",
                )

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:  # probes are frequent; keep logs quiet
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="probes", daemon=True).start()
    return server
