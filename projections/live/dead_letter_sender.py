"""Publishing a batch's dead letters to ``<topic>.dlt``, confirmed before the batch commits.

The batch's transaction (rows, positions, the parked letters) commits only after the
broker acknowledged every letter of the batch. A letter the broker did not confirm (a
refused or timed-out send: its outcome is unknown) fails the batch: nothing commits, the
Kafka offsets stay where they were, the records are read again, and the letter is sent
again by a new producer. So a letter can reach the dead-letter topic twice, never zero
times while counted as dead-lettered (docs/operations.md, "Dead letters").
"""

from __future__ import annotations

from collections.abc import Callable

from kafka import KafkaProducer

from contracts import bookkeeping as names
from contracts.redaction import redact
from contracts.topics import CLIENT_METRICS, RECONNECT_BACKOFF_MAX_MS, dead_letter_topic
from projections.records import BatchOutcome, DeadLetter


class DeadLetterNotConfirmedError(Exception):
    """The broker did not acknowledge some dead letters: the batch must not commit."""

    def __init__(self, failed: int, sent: int, error: BaseException | None) -> None:
        super().__init__(
            f"{failed} of {sent} dead letter(s) not confirmed by the broker: {error!r}"
        )


class DeadLetterSender:
    def __init__(
        self,
        projection: str,
        bootstrap_servers: str,
        new_producer: Callable[[], KafkaProducer] | None = None,
    ) -> None:
        self.projection = projection
        self.bootstrap_servers = bootstrap_servers
        self._new_producer = new_producer or self._kafka_producer
        self._producer: KafkaProducer | None = None

    def send_all(self, outcome: BatchOutcome) -> None:
        """Publish the batch's letters and wait for each acknowledgement (inside the batch's
        transaction: raising here rolls it back)."""
        if not outcome.dead_letters:
            return
        producer = self._producer = self._producer or self._new_producer()
        futures = [
            producer.send(
                dead_letter_topic(letter.record.topic),
                value=letter.record.value,
                headers=[*letter.record.headers, *self._headers(letter)],
            )
            for letter in outcome.dead_letters
        ]
        producer.flush(timeout=10)
        failed = [f for f in futures if not f.succeeded()]
        if failed:
            self.close()  # an unknown outcome: the next attempt starts a new producer
            raise DeadLetterNotConfirmedError(len(failed), len(futures), failed[0].exception)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=2)
            self._producer = None

    def _headers(self, letter: DeadLetter) -> list[tuple[str, bytes]]:
        record = letter.record
        return [
            (names.DLT_PROJECTION, self.projection.encode()),
            (names.DLT_ORIGINAL_TOPIC, record.topic.encode()),
            (names.DLT_ORIGINAL_PARTITION, str(record.partition).encode()),
            (names.DLT_ORIGINAL_OFFSET, str(record.offset).encode()),
            (names.DLT_NOTIFICATION_ID, str(letter.notification_id or "").encode()),
            (names.DLT_ERROR_CLASS, type(letter.error).__name__.encode()),
            # Errors can quote the payload (a validation error does): never a secret here.
            (names.DLT_ERROR_MESSAGE, redact(str(letter.error))[:2000].encode()),
        ]

    def _kafka_producer(self) -> KafkaProducer:
        return KafkaProducer(
            bootstrap_servers=self.bootstrap_servers,
            client_id=f"eventshop-projector-{self.projection}",
            enable_idempotence=True,
            acks="all",
            max_block_ms=5000,
            reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
            metrics_enabled=CLIENT_METRICS,
        )
