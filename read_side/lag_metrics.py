"""Lag as Prometheus gauges on the query API: measured outside the projectors, at scrape."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from psycopg_pool import ConnectionPool, PoolTimeout

from read_side.projection_status import projection_status

LABELS = ["projection", "topic", "partition"]


class LagCollector(Collector):
    def __init__(self, pool: ConnectionPool[Any], schema: str) -> None:
        self.pool = pool
        self.schema = schema

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            with self.pool.connection(timeout=2) as conn:
                rows = projection_status(conn, self.schema)
        except (psycopg.Error, PoolTimeout):
            return
        lag = GaugeMetricFamily(
            "eventshop_projection_lag_events", "Events acknowledged but not applied", labels=LABELS
        )
        seconds = GaugeMetricFamily(
            "eventshop_projection_lag_seconds",
            "Seconds since progress, while behind",
            labels=LABELS,
        )
        up = GaugeMetricFamily(
            "eventshop_projection_up", "1 when the partition is live", labels=LABELS
        )
        backlog = GaugeMetricFamily(
            "eventshop_relay_backlog_events", "Stored events the relay has not published"
        )
        for row in rows:
            labels = [row.projection, row.topic, str(row.partition)]
            lag.add_metric(labels, row.lag_events)
            seconds.add_metric(labels, row.lag_seconds)
            up.add_metric(labels, 1.0 if row.state == "live" else 0.0)
        if rows:
            backlog.add_metric([], rows[0].relay_backlog)
        yield from (lag, seconds, up, backlog)


def registry_with_lag(pool: ConnectionPool[Any], schema: str) -> CollectorRegistry:
    """This app's metrics: the process's own, plus the lag gauges."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    registry.register(LagCollector(pool, schema))
    return registry
