"""The Kafka consumer loop of one projection: poll → apply in one transaction → commit offsets.

Offsets are committed only after the read-model transaction, and ``enable_auto_commit``
is off: a crash between the two redelivers records the position check then drops.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import psycopg
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError, TopicAlreadyExistsError

from contracts.faults import crash_point
from contracts.topics import (
    PARTITIONS,
    RECONNECT_BACKOFF_MAX_MS,
    dead_letter_topic,
    topic_name,
)
from projections.live import offsets
from projections.live.applier import (
    Applier,
    BatchOutcome,
    HandlerFailedError,
    TableVersionMismatchError,
)
from projections.live.dead_letter_sender import DeadLetterNotConfirmedError, DeadLetterSender
from projections.live.heartbeat import Heartbeat
from projections.live.release import upgrade_parked
from projections.live.wakeups import Wakeups, settled
from projections.projection import Projection
from projections.records import Counts, Incoming

log = logging.getLogger(__name__)
#: How often a projector looks for parked events an older release could not read.
UPGRADE_CHECK_SECONDS = 5.0
#: After this long with nothing read, a projector in a stable group stops fetching and waits
#: for the event store's NOTIFY, polling once every ``SAFETY_POLL_SECONDS`` regardless.
IDLE_AFTER_SECONDS = 1.0
SAFETY_POLL_SECONDS = 5.0


@dataclass
class ProjectorStats(Counts):
    """A projector's counts since it started (its metrics), and its batches."""

    batches: int = 0
    #: Seconds spent applying batches (with ``batches``: the mean batch latency).
    batch_seconds: float = 0.0


class KafkaProjector:
    #: Records per batch (one transaction): larger batches spread each batch's fixed
    #: round trips (position locks, the offset commit) over more events.
    max_poll_records_default = 2000

    def __init__(
        self,
        *,
        projection: Projection,
        database_url: str,
        schema: str,
        bootstrap_servers: str,
        topic_prefix: str = "",
        group_prefix: str = "eventshop",
        session_timeout_ms: int = 6000,
        fetch_max_wait_ms: int = 50,
        max_poll_records: int | None = None,
    ) -> None:
        self.projection = projection
        self.database_url = database_url
        self.bootstrap_servers = bootstrap_servers
        self.topics = [topic_name(c, topic_prefix) for c in projection.contexts]
        # Read models and reactors' intakes each have a group of their own.
        kind = "projection" if projection.read_model else "reactor"
        self.group_id = f"{group_prefix}.{kind}.{projection.name}"
        self.session_timeout_ms = session_timeout_ms
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.max_poll_records = max_poll_records or self.max_poll_records_default
        self.applier = Applier(projection, schema, check_table_version=projection.read_model)
        self.heartbeat = Heartbeat(schema, projection.name)
        self.stats = ProjectorStats()
        self.assigned = threading.Event()
        self._last_mismatch_log = -1e9
        #: Set while the live tables are at another table version than this code writes:
        #: records are read and left unapplied until a rebuild installs this version.
        self.waiting_for_rebuild: str | None = None
        self.letters = DeadLetterSender(projection.name, bootstrap_servers)
        self._relay_checked = -1e9
        self._upgrade_checked = -1e9
        self.wakeups = Wakeups.for_database(database_url)

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set; reconnects after broker or database failures.

        A database failure keeps the Kafka consumer, and so its partitions: what was not
        committed is read again once PostgreSQL answers. A new consumer would make the whole
        group rebalance, and on Tansu every instance rejoining at once after a database
        restart was seen to hang in the join for good (bench.system --chaos, postgres_killed).
        """
        backoff, consumer = 0.2, None
        try:
            while not stop.is_set():
                try:
                    consumer = consumer or self._joined()
                    with psycopg.connect(self.database_url) as conn:
                        self._upgrade_parked(conn)
                        self._consume(consumer, conn, stop)
                        self.heartbeat.leave(conn)
                    backoff = 0.2
                    continue  # stopped
                except psycopg.Error as error:
                    self._retrying(error, backoff)
                    if consumer is not None:
                        offsets.rewind(consumer)
                except Exception as error:  # the broker, or a defect: start a new consumer
                    if not isinstance(error, KafkaError | OSError):
                        log.exception("projector %s: unexpected failure", self.projection.name)
                    self._retrying(error, backoff)
                    self._left(consumer)
                    consumer = None
                stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
        finally:
            self._left(consumer)

    def _joined(self) -> KafkaConsumer:
        self._ensure_topics()
        return self._new_consumer()

    def _left(self, consumer: KafkaConsumer | None) -> None:
        """Leave the group: close the consumer and the dead-letter producer."""
        self.assigned.clear()
        if consumer is not None:
            consumer.close(autocommit=False)
        self.letters.close()

    def _retrying(self, error: Exception, backoff: float) -> None:
        log.warning(
            "projector %s: %s: %s; retrying in %.1fs",
            self.projection.name,
            type(error).__name__,
            error,
            backoff,
        )

    def _upgrade_parked(self, conn: psycopg.Connection[Any]) -> None:
        """Apply what an instance of an older release parked as "needs upgrade" and this
        release reads. At start, and every few seconds: in a rolling deploy the old
        instances go on parking after this one started, and the events they parked are
        behind the committed offsets, so no record will bring them back."""
        self._upgrade_checked = time.monotonic()
        upgraded = upgrade_parked(conn, self.projection, self.applier.schema)
        if upgraded:
            log.info(
                "projector %s: %d event(s) an older release parked applied now",
                self.projection.name,
                upgraded,
            )

    def _consume(
        self, consumer: KafkaConsumer, conn: psycopg.Connection[Any], stop: threading.Event
    ) -> None:
        seen, busy_at = self.wakeups.generation, time.monotonic()
        while not stop.is_set():
            wait_ms = 200
            if time.monotonic() - busy_at > IDLE_AFTER_SECONDS and settled(consumer):
                news = self.wakeups.wait_while(seen, SAFETY_POLL_SECONDS, lambda: settled(consumer))
                if news != seen:
                    seen, busy_at = news, time.monotonic()
                else:  # the safety poll: one fetch's wait, not a busy poll's
                    wait_ms = 2 * self.fetch_max_wait_ms
            polled = consumer.poll(timeout_ms=wait_ms)
            if consumer.assignment():
                self.assigned.set()
            self.heartbeat.beat(conn, consumer)
            self._follow_the_relay(conn, consumer)
            if time.monotonic() - self._upgrade_checked > UPGRADE_CHECK_SECONDS:
                self._upgrade_parked(conn)
            records = [
                Incoming(r.topic, r.partition, r.offset, list(r.headers or []), r.value)
                for batch in polled.values()
                for r in batch
            ]
            if not records:
                continue
            busy_at = time.monotonic()
            started = time.perf_counter()
            try:
                outcome = self._apply(consumer, conn, records)
            except (HandlerFailedError, DeadLetterNotConfirmedError) as error:
                # Nothing was committed: read the same records again after a pause.
                log.warning(
                    "projector %s: %s; the records stay pending", self.projection.name, error
                )
                offsets.seek_back(consumer, records)
                stop.wait(0.1 if isinstance(error, HandlerFailedError) else 1.0)
                continue
            except TableVersionMismatchError as error:
                # Another release's tables: wait for the rebuild; the records stay unread.
                now, self.waiting_for_rebuild = time.monotonic(), str(error)
                if now - self._last_mismatch_log > 30:
                    log.warning("projector %s: %s", self.projection.name, error)
                    self._last_mismatch_log = now
                offsets.seek_back(consumer, records)
                stop.wait(1.0)
                continue
            self.waiting_for_rebuild = None
            self._count(outcome)
            self.stats.batch_seconds += time.perf_counter() - started
            crash_point("projector.after_db_commit")
            consumer.commit(offsets.offsets_to_commit(records, outcome))
            if outcome.rewind:
                log.warning(
                    "projector %s: a newer relay epoch on %s; rereading from the start",
                    self.projection.name,
                    sorted(outcome.rewind),
                )
                consumer.seek_to_beginning(*(TopicPartition(t, p) for t, p in outcome.rewind))

    def _follow_the_relay(self, conn: psycopg.Connection[Any], consumer: KafkaConsumer) -> None:
        """Every few seconds: reread from the start the partitions where the relay
        republishes a lost log (docs/operations.md, "Failure modes")."""
        now = time.monotonic()
        if now - self._relay_checked < 2.0:
            return
        self._relay_checked = now
        with conn.transaction(), conn.cursor() as cur:
            behind = self.applier.positions.behind_the_relay(cur)
        assigned = consumer.assignment()
        stale = [tp for tp in (TopicPartition(t, p) for t, p in behind) if tp in assigned]
        if stale:
            consumer.seek_to_beginning(*stale)

    def _apply(
        self, consumer: KafkaConsumer, conn: psycopg.Connection[Any], records: list[Incoming]
    ) -> BatchOutcome:
        return self.applier.apply(
            conn,
            records,
            before_commit=self.letters.send_all,
            high_watermarks=offsets.high_watermarks(consumer, records),
        )

    def _count(self, outcome: BatchOutcome) -> None:
        self.stats.batches += 1
        self.stats.add(outcome)

    def _new_consumer(self) -> KafkaConsumer:
        return KafkaConsumer(
            *self.topics,
            bootstrap_servers=self.bootstrap_servers,
            group_id=self.group_id,
            client_id=f"eventshop-projector-{self.projection.name}",
            enable_auto_commit=False,  # offsets only after the read-model transaction
            auto_offset_reset="earliest",
            session_timeout_ms=self.session_timeout_ms,
            heartbeat_interval_ms=max(self.session_timeout_ms // 3, 100),
            max_poll_records=self.max_poll_records,
            # How long the broker may hold a fetch with no data. Apache Kafka answers as soon
            # as a record arrives; Tansu holds it the whole time, so there it is the median
            # read-your-writes delay's largest part (docs/operations.md, "Read-your-writes").
            fetch_max_wait_ms=self.fetch_max_wait_ms,
            reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
        )

    def _ensure_topics(self) -> None:
        """Create the source and dead-letter topics if the broker lacks them."""
        wanted = [*self.topics, *(dead_letter_topic(t) for t in self.topics)]
        admin = KafkaAdminClient(
            bootstrap_servers=self.bootstrap_servers,
            reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
        )
        try:
            missing = [t for t in wanted if t not in set(admin.list_topics())]
            if missing:
                with contextlib.suppress(TopicAlreadyExistsError):
                    admin.create_topics(
                        {
                            t: {"num_partitions": PARTITIONS, "replication_factor": 1}
                            for t in missing
                        },
                        wait_for_metadata=True,
                    )
        finally:
            admin.close()
