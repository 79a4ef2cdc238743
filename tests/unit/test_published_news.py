"""The relay's NOTIFY with each checkpoint names the partitions it moved, so a projector
fetches for news of its own partitions only; anything it cannot name is news for all."""

from __future__ import annotations

from write_side.relay.checkpoint import NEWS_LIMIT, Checkpoint, published_news


def test_the_news_names_the_partitions_whose_acknowledged_offset_moved() -> None:
    before = Checkpoint(10, {"p.orders:0": 4, "p.orders:1": 7, "p.products:2": 1})
    after = Checkpoint(12, {"p.orders:0": 4, "p.orders:1": 9, "p.products:2": 1, "p.pay:0": 0})
    assert published_news(before, after) == "p.orders:1 p.pay:0"


def test_what_cannot_be_named_is_news_for_every_partition() -> None:
    after = Checkpoint(3, {"t:0": 2})
    assert published_news(None, after) == ""  # a save with no batch behind it
    republished = Checkpoint(0, {"t:0": 0}, republished=1)
    assert published_news(after, republished) == ""  # the log again, from the start
    many = {f"{'x' * 60}.t:{n}": n for n in range(200)}
    assert len(" ".join(many)) > NEWS_LIMIT
    assert published_news(Checkpoint(), Checkpoint(5, many)) == ""  # PostgreSQL's limit
