"""The aggregate cache: bounded by count and by estimated memory, counting what it does."""

from __future__ import annotations

from uuid import UUID, uuid4

from prometheus_client import CollectorRegistry, generate_latest

from write_side.application.shop import Shop
from write_side.persistence.aggregate_cache import CacheMetrics, MeasuredCache, estimated_bytes

CACHED = {"AGGREGATE_CACHE_MAXSIZE": "100", "AGGREGATE_CACHE_FASTFORWARD": "y"}


class Big:
    def __init__(self, items: int) -> None:
        self.held = {uuid4(): 1 for _ in range(items)}


def test_entries_are_evicted_by_estimated_bytes_before_the_count_is_reached() -> None:
    cache = MeasuredCache(maxsize=100, max_bytes=estimated_bytes(Big(100)) * 3)
    keys = [uuid4() for _ in range(5)]
    for key in keys:
        cache.put(key, Big(100))
    assert list(cache.entries) == keys[2:]  # three fit, the two oldest went
    assert (cache.evictions, cache.bytes) == (2, sum(s for _, s in cache.entries.values()))
    cache.get(keys[2])  # now the most recent
    cache.put(uuid4(), Big(100))
    assert keys[2] in cache.entries and keys[3] not in cache.entries


def test_an_entry_that_grew_is_measured_again_when_read() -> None:
    cache = MeasuredCache(maxsize=100, max_bytes=10**9)
    key, small = uuid4(), Big(1)
    cache.put(key, small)
    before = cache.bytes
    small.held.update({uuid4(): 1 for _ in range(1000)})  # fast-forwarded in place
    cache.get(key)
    assert cache.bytes - before >= 1000 * 90


def test_the_shop_uses_it_and_its_metrics_show_hits_misses_and_evictions() -> None:
    shop = Shop(CACHED, cache_max_bytes=10**9)
    cache = shop.repository.cache
    assert isinstance(cache, MeasuredCache) and cache.maxsize == 100
    ids: list[UUID] = [shop.create_product(sku=f"C-{n}", title="C", price=1).id for n in range(3)]
    shop.get_product(ids[0])  # a miss (reconstructed, then cached)
    shop.get_product(ids[0])  # a hit
    assert (cache.hits, cache.misses) == (1, 1)
    registry = CollectorRegistry()
    registry.register(CacheMetrics(cache))
    text = generate_latest(registry).decode()
    assert "eventshop_aggregate_cache_hits_total 1.0" in text
    assert "eventshop_aggregate_cache_misses_total 1.0" in text
    assert "eventshop_aggregate_cache_entries 1.0" in text
