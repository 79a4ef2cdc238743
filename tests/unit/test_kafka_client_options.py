"""Our Kafka clients run without kafka-python's own client metrics: sensors on every send,
fetch and answer that nothing reads (contracts.topics.CLIENT_METRICS), and every client
reconnects within a second of the broker's return."""

from __future__ import annotations

from typing import Any

import pytest

import projections.live.consumer as consumer_module
import projections.live.dead_letter_sender as letters_module
import write_side.relay.publisher as relay_module
from projections.live.consumer import KafkaProjector
from projections.live.dead_letter_sender import DeadLetterSender
from projections.registry import PROJECTIONS
from write_side.relay.publisher import KafkaRelay


class Recorded:
    def __init__(self, *topics: str, **config: Any) -> None:
        self.topics, self.config = topics, config


def _options(config: dict[str, Any]) -> tuple[Any, Any]:
    return config.get("metrics_enabled"), config.get("reconnect_backoff_max_ms")


def test_the_relay_producer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(relay_module, "KafkaProducer", Recorded)
    relay = KafkaRelay.__new__(KafkaRelay)
    relay.bootstrap_servers = "broker:9092"
    assert _options(relay._new_producer().config) == (False, 1000)


def test_the_dead_letter_producer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(letters_module, "KafkaProducer", Recorded)
    sender = DeadLetterSender("products", "broker:9092")
    assert _options(sender._kafka_producer().config) == (False, 1000)


def test_a_processing_group_consumer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(consumer_module, "KafkaConsumer", Recorded)
    projector = KafkaProjector(
        projections=[PROJECTIONS["products"]],
        database_url="postgresql://nobody@/nowhere",
        schema="rm",
        bootstrap_servers="broker:9092",
    )
    assert _options(projector._new_consumer().config) == (False, 1000)
