"""How many events each load of an aggregate reads from the event store (snapshot tests)."""

from __future__ import annotations

from typing import Any

from write_side.application.shop import Shop


def counted_reads(shop: Shop) -> list[int]:
    """A list that gets, for each later load, how many events it read from the store."""
    reads: list[int] = []
    store = shop.repository.event_store
    original = store.get

    def get(*args: Any, **kwargs: Any) -> Any:
        events = list(original(*args, **kwargs))
        reads.append(len(events))
        return iter(events)

    store.get = get  # type: ignore[method-assign]
    return reads
