"""RED metrics on both APIs: requests (rate and errors) and latency per route template,
plus requests in flight, in Prometheus form on the API's ``/metrics``.

Labels stay bounded whatever clients send: the route is the template FastAPI matched
(``/orders/{order_id}``, never the id), ``<unmatched>`` for a path no route serves, and a
method outside the HTTP verbs counts as ``OTHER``. Each API worker process keeps its own
counts (a scrape reaches one worker; sum over instances in PromQL).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from time import perf_counter

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: Seconds; from a cached 304 (a millisecond) to a token read waiting out its bound.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED = "<unmatched>"


class _Forward(Collector):
    def __init__(self, source: CollectorRegistry) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        yield from self.source.collect()


def app_registry(*shared: CollectorRegistry) -> CollectorRegistry:
    """A registry of one app's own (several apps live in one test process), which also
    shows the ``shared`` registries' metrics (the process's, a breaker's)."""
    registry = CollectorRegistry()
    for source in shared:
        registry.register(_Forward(source))
    return registry


class RedMetrics:
    """ASGI middleware counting every request but the scrape of ``/metrics`` itself."""

    def __init__(
        self, app: ASGIApp, *, api: str, registry: CollectorRegistry, skip: Iterable[str] = ()
    ) -> None:
        self.app = app
        self.api = api
        self.skip = frozenset({"/metrics", "/metrics/", *skip})
        self.requests = Counter(
            "eventshop_http_requests",
            "HTTP requests answered, by route template, method and status",
            ["api", "method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "eventshop_http_request_duration_seconds",
            "Time from request to the end of the answer, by route template and method",
            ["api", "method", "route"],
            buckets=BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "eventshop_http_requests_in_flight",
            "Requests being served now",
            ["api"],
            registry=registry,
        ).labels(api)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.skip:
            await self.app(scope, receive, send)
            return
        status = 500  # what the client gets when the app raises before answering

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        started = perf_counter()
        self.in_flight.inc()
        try:
            await self.app(scope, receive, watch)
        finally:
            self.in_flight.dec()
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            # The router records the route it matched in the (shared) scope.
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            self.requests.labels(self.api, method, route, str(status)).inc()
            self.latency.labels(self.api, method, route).observe(perf_counter() - started)
