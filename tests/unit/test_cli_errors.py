"""The operator CLI explains a failure in one line; explaining must never fail itself."""

from __future__ import annotations

from kafka.errors import KafkaTimeoutError

from eventshop.cli.errors import DEBUG_HINT, explain


def test_an_unknown_error_is_named_with_the_debug_hint() -> None:
    # Every error that is not PostgreSQL's passes the broker check: with kafka-python 3 it
    # named a class that no longer exists, and explaining raised AttributeError instead.
    message, code = explain(OSError(98, "Address already in use"))
    assert code == 1
    assert message == f"OSError: [Errno 98] Address already in use ({DEBUG_HINT})"


def test_an_unreachable_broker_gets_the_configuration_hint() -> None:
    message, code = explain(KafkaTimeoutError("Unable to bootstrap from 127.0.0.1:1"))
    assert code == 2
    assert message.startswith("cannot reach Kafka:")
    assert "EVENTSHOP_KAFKA_BOOTSTRAP_SERVERS" in message
