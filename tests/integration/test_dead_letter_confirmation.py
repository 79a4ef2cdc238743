"""A dead letter is confirmed by the broker before the offset moves past it.

The broker refusing the letter (its send future fails) must leave the record pending:
nothing of the batch commits, the record is not counted as dead-lettered, and once the
broker takes letters again it reaches ``<topic>.dlt`` and the projector moves on.
"""

from __future__ import annotations

import threading
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaTimeoutError
from kafka.producer.future import FutureProduceResult, FutureRecordMetadata

from contracts.topics import dead_letter_topic, topic_name
from projections.live.consumer import KafkaProjector
from projections.live.dead_letter_sender import DeadLetterSender
from projections.registry import PROJECTIONS
from tests.support.stack import Servers, eventually, running_stack
from tests.support.topics import read_all


class FakeRefusingProducer:
    """The dead-letter producer while the broker refuses letters: every send fails."""

    def __init__(self) -> None:
        self.refused = 0

    def send(self, *_: Any, **__: Any) -> FutureRecordMetadata:
        self.refused += 1
        produced = FutureProduceResult(None)
        future = FutureRecordMetadata(produced, 0, -1, None, 0, 0, -1)
        produced.failure(KafkaTimeoutError("the broker did not take the letter"))
        return future

    def flush(self, timeout: float | None = None) -> None:
        pass

    def close(self, timeout: float | None = None) -> None:
        pass


def test_a_refused_dead_letter_keeps_its_record_pending_until_the_broker_takes_it(
    servers: Servers,
) -> None:
    with running_stack(servers) as stack:
        settings = stack.settings
        projector = KafkaProjector(
            projections=[PROJECTIONS["products"]],
            database_url=servers.database_url,
            schema=settings.read_schema,
            bootstrap_servers=servers.kafka_bootstrap_servers,
            topic_prefix=settings.topic_prefix,
            group_prefix=settings.consumer_group_prefix,
            session_timeout_ms=2000,
        )
        refusing = FakeRefusingProducer()
        real = DeadLetterSender("products", servers.kafka_bootstrap_servers)
        projector.members[0].letters = DeadLetterSender(
            "products",
            servers.kafka_bootstrap_servers,
            new_producer=lambda: refusing,
        )
        topic = topic_name("catalog", settings.topic_prefix)
        producer = KafkaProducer(bootstrap_servers=servers.kafka_bootstrap_servers)
        producer.send(topic, value=b"\xff\x00", headers=[("notification_id", b"x")], partition=0)
        producer.flush()
        producer.close()

        stop = threading.Event()
        thread = threading.Thread(target=projector.run, args=(stop,), daemon=True)
        thread.start()
        try:
            eventually(lambda: refusing.refused >= 2, timeout=60)  # tried, refused, tried again
            assert stack.positions("products")["dead_lettered"] == 0  # nothing committed
            assert read_all(servers.kafka_bootstrap_servers, [dead_letter_topic(topic)]) == []

            projector.members[0].letters = real  # the broker takes letters again
            eventually(lambda: stack.positions("products")["dead_lettered"] == 1, timeout=60)
            letters = read_all(servers.kafka_bootstrap_servers, [dead_letter_topic(topic)])
            assert [r.value for r in letters] == [b"\xff\x00"]
        finally:
            stop.set()
            thread.join(timeout=15)
            real.close()
