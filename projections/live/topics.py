"""The topics a processing group reads, made sure of before its consumer joins."""

from __future__ import annotations

import contextlib

from kafka import KafkaAdminClient
from kafka.errors import TopicAlreadyExistsError

from contracts.topics import PARTITIONS, RECONNECT_BACKOFF_MAX_MS, dead_letter_topic


def ensure_topics(bootstrap_servers: str, topics: list[str]) -> None:
    """Create the source and dead-letter topics if the broker lacks them."""
    wanted = [*topics, *(dead_letter_topic(t) for t in topics)]
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap_servers, reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS
    )
    try:
        missing = [t for t in wanted if t not in set(admin.list_topics())]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(
                    {t: {"num_partitions": PARTITIONS, "replication_factor": 1} for t in missing},
                    wait_for_metadata=True,
                )
    finally:
        admin.close()
