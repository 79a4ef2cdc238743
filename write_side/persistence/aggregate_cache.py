"""The write side's aggregate cache, bounded by memory as well as by count.

The library's LRU cache counts aggregates; but an aggregate's size varies by orders of
magnitude (a product holding a thousand open reservations, an order of a hundred lines), so
10,000 of them can be megabytes or gigabytes. This cache keeps an estimate of each entry's
size (its attributes, containers by their length), re-estimated when it is read (cached
aggregates are fast-forwarded in place), and evicts the least recently used until both
bounds hold. It counts hits, misses and evictions for the command API's ``/metrics``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any
from uuid import UUID

from eventsourcing.application import Cache
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

#: Bytes counted for an attribute, and for each item of a container attribute.
_ATTRIBUTE, _ITEM = 64, 96


def estimated_bytes(aggregate: Any) -> int:
    """A cheap, stable estimate of an aggregate's memory (not ``sys.getsizeof`` deep)."""
    size = 256
    for value in vars(aggregate).values():
        if isinstance(value, str | bytes):
            size += _ATTRIBUTE + len(value)
        elif isinstance(value, dict | list | tuple | set):
            size += _ATTRIBUTE + _ITEM * len(value)
        else:
            size += _ATTRIBUTE
    return size


class MeasuredCache(Cache[UUID, Any]):
    def __init__(self, maxsize: int, max_bytes: int) -> None:
        super().__init__()
        self.maxsize, self.max_bytes = maxsize, max_bytes
        self.entries: OrderedDict[UUID, tuple[Any, int]] = OrderedDict()
        self.bytes = 0
        self.hits = self.misses = self.evictions = 0
        self.lock = threading.Lock()

    def get(self, key: UUID, *, evict: bool = False) -> Any:
        with self.lock:
            found = self.entries.get(key)
            if found is None:
                self.misses += 1
                raise KeyError(key)
            self.hits += 1
            if evict:
                self._drop(key)
                return found[0]
            self.entries.move_to_end(key)
            self._resize(key, found[0])
            self._evict()
            return found[0]

    def put(self, key: UUID, value: Any | None) -> None:
        if value is None:
            return
        with self.lock:
            if key in self.entries:
                self._drop(key)
            self.entries[key] = (value, 0)
            self._resize(key, value)
            self._evict()

    def _resize(self, key: UUID, value: Any) -> None:
        size = estimated_bytes(value)
        self.bytes += size - self.entries[key][1]
        self.entries[key] = (value, size)

    def _drop(self, key: UUID) -> None:
        self.bytes -= self.entries.pop(key)[1]

    def _evict(self) -> None:
        while len(self.entries) > 1 and (
            len(self.entries) > self.maxsize or self.bytes > self.max_bytes
        ):
            oldest = next(iter(self.entries))
            self._drop(oldest)
            self.evictions += 1


class CacheMetrics(Collector):
    """``eventshop_aggregate_cache_*``: hits, misses, evictions, entries, estimated bytes."""

    def __init__(self, cache: MeasuredCache) -> None:
        self.cache = cache

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        c, name = self.cache, "eventshop_aggregate_cache"
        for what, value in (("hits", c.hits), ("misses", c.misses), ("evictions", c.evictions)):
            yield CounterMetricFamily(f"{name}_{what}", f"Aggregate cache {what}", value=value)
        yield GaugeMetricFamily(f"{name}_entries", "Aggregates cached", value=len(c.entries))
        yield GaugeMetricFamily(f"{name}_bytes", "Their estimated size", value=c.bytes)
