"""Lag as Prometheus gauges on the query API: measured outside the projectors, at scrape."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from psycopg_pool import ConnectionPool, PoolTimeout

from contracts.rows import ProjectionPartition
from read_side.operations.projection_status import projection_status

LABELS = ["projection", "topic", "partition"]


class LagCollector(Collector):
    """At scrape: each partition's lag and state, and whether the database answered.

    With the database down the series do not vanish (an alert on a vanished series never
    fires): ``eventshop_database_up`` reads 0, every partition's ``up`` reads 0, and lag
    keeps its last measured value until the database answers again.
    """

    def __init__(self, pool: ConnectionPool[Any], schema: str, topic_prefix: str = "") -> None:
        self.pool = pool
        self.schema = schema
        self.topic_prefix = topic_prefix
        self._last: list[ProjectionPartition] = []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        database = GaugeMetricFamily(
            "eventshop_database_up", "1 when the read database answered this scrape"
        )
        try:
            with self.pool.connection(timeout=2) as conn:
                rows = projection_status(conn, self.schema, self.topic_prefix)
            self._last, reachable = rows, True
        except (psycopg.Error, PoolTimeout):
            rows, reachable = self._last, False
        database.add_metric([], 1.0 if reachable else 0.0)
        yield database
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
        upgrade = GaugeMetricFamily(
            "eventshop_projection_needs_upgrade_events",
            "Events waiting for a release that reads their type or schema version",
            labels=LABELS,
        )
        for row in rows:
            labels = [row.projection, row.topic, str(row.partition)]
            lag.add_metric(labels, row.lag_events)
            seconds.add_metric(labels, row.lag_seconds)
            up.add_metric(labels, 1.0 if reachable and row.state == "live" else 0.0)
            upgrade.add_metric(labels, row.needs_upgrade)
        if rows:
            backlog.add_metric([], rows[0].relay_backlog)
        yield from (lag, seconds, up, backlog, upgrade)


def registry_with_lag(
    pool: ConnectionPool[Any], schema: str, topic_prefix: str = ""
) -> CollectorRegistry:
    """This app's metrics: the process's own, plus the lag gauges."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    registry.register(LagCollector(pool, schema, topic_prefix))
    return registry
