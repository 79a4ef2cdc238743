"""Session-wide real servers: PostgreSQL and a Kafka-protocol broker, started once.

``EVENTSHOP_TEST_DATABASE_URL`` / ``EVENTSHOP_TEST_KAFKA_BOOTSTRAP_SERVERS`` point the
suite at external servers; unset, it starts embedded ones, as ``eventshop run`` does.
Tests isolate themselves with unique schemas, topic prefixes and consumer groups.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.support.stack import Servers


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    from tests.support.postgres import postgres_from

    with postgres_from("EVENTSHOP_TEST_DATABASE_URL") as url:
        yield url


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    external = os.environ.get("EVENTSHOP_TEST_KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    from eventshop.embedded import EmbeddedKafka

    broker = EmbeddedKafka()
    try:
        yield broker.start()
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def servers(database_url: str, kafka_bootstrap: str) -> Servers:
    from tests.support.stack import Servers

    return Servers(database_url=database_url, kafka_bootstrap_servers=kafka_bootstrap)
