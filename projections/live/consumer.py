"""A processing group's Kafka consumer loop: poll → the members apply their records in the
group's one transaction (:mod:`projections.live.group_batch`) → commit offsets, at most once
a second (docs/operations.md, "Processing groups").

One consumer reads each topic once for every projection of the group (Axon's processing
groups): records are fetched and decoded once, not once per projection. Offsets are
committed only after the group's transaction, and ``enable_auto_commit`` is off: a
crash between the two redelivers records each member's position check then drops. A member
waiting for a rebuild lets records pass unapplied; the group commits no offset beyond the
first it skipped, and reads them again once the rebuild is in.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

import psycopg
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from contracts.bookkeeping import PUBLISHED_CHANNEL, partition_key
from contracts.faults import crash_point
from contracts.topics import CLIENT_METRICS, RECONNECT_BACKOFF_MAX_MS
from projections.live import heartbeat, offsets
from projections.live.applier import HandlerFailedError
from projections.live.group_batch import apply_group
from projections.live.member import Member
from projections.live.positions import behind_the_relay
from projections.live.resume import ResumePoints
from projections.live.topics import ensure_topics
from projections.live.wakeups import Wakeups, drained, settled
from projections.projection import Projection
from projections.records import Incoming

log = logging.getLogger(__name__)
#: Busy or not, a group in a stable consumer group that has read what the broker had
#: fetches again only on the relay's news for one of its partitions, or after
#: ``NEWS_WAIT_SECONDS`` without; once nothing was read for ``IDLE_AFTER_SECONDS``, after
#: ``SAFETY_POLL_SECONDS`` (within the heartbeat rows' staleness, 6 s: each poll round
#: beats). docs/operations.md, "Idle".
IDLE_AFTER_SECONDS = 1.0
SAFETY_POLL_SECONDS = 4.0
NEWS_WAIT_SECONDS = 0.25


def group_id(prefix: str, projections: Sequence[Projection]) -> str:
    """One projection keeps the group it always had; several share one named for them all."""
    if len(projections) == 1:
        kind = "projection" if projections[0].read_model else "reactor"
        return f"{prefix}.{kind}.{projections[0].name}"
    return f"{prefix}.projections.{'+'.join(sorted(p.name for p in projections))}"


class KafkaProjector:
    """The consumer of one processing group (one projection, or several sharing topics)."""

    #: Records per batch (one transaction): larger batches spread each batch's
    #: fixed round trips (position locks, the offset commit) over more events.
    max_poll_records_default = 2000

    def __init__(
        self,
        *,
        projections: Sequence[Projection],
        database_url: str,
        schema: str,
        bootstrap_servers: str,
        topic_prefix: str = "",
        group_prefix: str = "eventshop",
        session_timeout_ms: int = 6000,
        fetch_max_wait_ms: int = 5,
        max_poll_records: int | None = None,
    ) -> None:
        self.members = [Member(p, schema, bootstrap_servers, topic_prefix) for p in projections]
        self.name = "+".join(m.name for m in self.members)
        self.database_url, self.schema = database_url, schema
        self.bootstrap_servers = bootstrap_servers
        self.topics = sorted({t for m in self.members for t in m.topics})
        self.group_id = group_id(group_prefix, projections)
        self.session_timeout_ms = session_timeout_ms
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.max_poll_records = max_poll_records or self.max_poll_records_default
        self.assigned = threading.Event()
        self.wakeups = Wakeups.for_database(database_url, (PUBLISHED_CHANNEL,))
        self.resume = ResumePoints(schema, self.members)
        self.pending = offsets.PendingOffsets()
        self._relay_checked = -1e9

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
                        for member in self.members:
                            member.upgrade_parked_when_due(conn, now=True)
                        self._consume(consumer, conn, stop)
                        self.pending.commit(consumer, now=True)
                        for member in self.members:
                            member.heartbeat.leave(conn)
                    backoff = 0.2
                    continue  # stopped
                except psycopg.Error as error:
                    self._retrying(error, backoff)
                    if consumer is not None:
                        offsets.rewind(consumer)
                except Exception as error:  # the broker, or a defect: start a new consumer
                    if not isinstance(error, KafkaError | OSError):
                        log.exception("projector %s: unexpected failure", self.name)
                    self._retrying(error, backoff)
                    self._left(consumer)
                    consumer = None
                stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
        finally:
            self._left(consumer)

    def _joined(self) -> KafkaConsumer:
        ensure_topics(self.bootstrap_servers, self.topics)
        self.resume.forget()
        self.pending.forget()
        return self._new_consumer()

    def _left(self, consumer: KafkaConsumer | None) -> None:
        """Leave the group: close the consumer and the dead-letter producers."""
        self.assigned.clear()
        if consumer is not None:
            consumer.close(autocommit=False)
        for member in self.members:
            member.letters.close()

    def _retrying(self, error: Exception, backoff: float) -> None:
        kind = type(error).__name__
        log.warning("projector %s: %s: %s; retrying in %.1fs", self.name, kind, error, backoff)

    def _consume(
        self, consumer: KafkaConsumer, conn: psycopg.Connection[Any], stop: threading.Event
    ) -> None:
        def may_sleep() -> bool:  # a stable group, and no stop asked for
            return settled(consumer) and not stop.is_set()

        seen, busy_at, waiting_since = self.wakeups.generation, time.monotonic(), 0.0
        read = self.max_poll_records  # as after a full poll: poll before waiting
        while not stop.is_set():
            wait_ms = 2 * self.fetch_max_wait_ms
            if not settled(consumer):  # joining or rebalancing: busy until a second after
                busy_at, wait_ms = time.monotonic(), 200
            elif self._caught_up(consumer, read) and not self._news(consumer, seen):
                now = time.monotonic()
                idle = now - busy_at > IDLE_AFTER_SECONDS
                self.pending.commit(consumer, now=idle)  # before sleeping long
                waiting_since = waiting_since or now
                # A member waiting for a rebuild looks for it each round: no news tells.
                long = idle and not any(m.skipped for m in self.members)
                left = waiting_since + (SAFETY_POLL_SECONDS if long else NEWS_WAIT_SECONDS) - now
                if left > 0:  # news (maybe for another's partitions), a rebalance, a stop
                    self.wakeups.wait_while(self.wakeups.generation, left, may_sleep)
                    continue
            waiting_since, seen = 0.0, self.wakeups.generation  # news after this is new
            polled = consumer.poll(timeout_ms=wait_ms)
            read = sum(map(len, polled.values()))
            if consumer.assignment():
                self.assigned.set()
            heartbeat.beat(conn, consumer, [(m.heartbeat, m.topics) for m in self.members])
            for member in self.members:
                member.upgrade_parked_when_due(conn)
            self._follow_the_relay(conn, consumer)
            records = [
                Incoming(r.topic, r.partition, r.offset, list(r.headers or []), r.value)
                for batch in polled.values()
                for r in batch
            ]
            records = self.resume.after_poll(conn, consumer, records)
            if records:
                busy_at = time.monotonic()
                self._batch(consumer, conn, records, stop)

    def _caught_up(self, consumer: KafkaConsumer, read: int) -> bool:
        """After a poll of ``read`` records: whether what the broker had is read."""
        return read == 0 or (read < self.max_poll_records and drained(consumer))

    def _news(self, consumer: KafkaConsumer, seen: int) -> bool:
        """Whether the relay published to a partition of ours since generation ``seen``."""
        mine = (partition_key(tp.topic, tp.partition) for tp in consumer.assignment())
        return self.wakeups.news_for(mine, seen)

    def _batch(
        self,
        consumer: KafkaConsumer,
        conn: psycopg.Connection[Any],
        records: list[Incoming],
        stop: threading.Event,
    ) -> None:
        if self._reread_rebuilt(consumer, conn, records):
            return
        marks = offsets.high_watermarks(consumer, records)
        outcome = apply_group(conn, self.schema, self.members, records, marks)
        failed, rewind = outcome.failed, outcome.rewind
        if failed is not None or outcome.waiting == len(self.members):
            # Nothing committed for the failing member (or everyone waits for a rebuild):
            # read the same records again after a pause; the others drop them as duplicates.
            offsets.seek_back(consumer, records)
            stop.wait(0.1 if isinstance(failed, HandlerFailedError) else 1.0)
            return
        crash_point("projector.after_db_commit")
        held = [m.skipped for m in self.members if m.skipped]
        self.pending.add(offsets.offsets_to_commit(records, rewind, *held))
        self.pending.commit(consumer, now=bool(rewind or held))  # rare paths: at once
        if rewind:
            log.warning(
                "projector %s: a newer relay epoch on %s; rereading from the start",
                self.name,
                sorted(rewind),
            )
            consumer.seek_to_beginning(*(TopicPartition(t, p) for t, p in rewind))

    def _reread_rebuilt(
        self, consumer: KafkaConsumer, conn: psycopg.Connection[Any], records: list[Incoming]
    ) -> bool:
        """Seek back to what members let pass while they waited, once their rebuild is in
        (and to ``records``, read again too); True if any was."""
        rebuilt = [m for m in self.members if m.rebuilt(conn)]
        if not rebuilt:
            return False
        for member in rebuilt:
            log.info("projector %s: rebuilt; rereading what it let pass", member.name)
        offsets.seek_back(consumer, records, *(m.skipped for m in rebuilt))
        for member in rebuilt:
            member.skipped.clear()
        return True

    def _follow_the_relay(self, conn: psycopg.Connection[Any], consumer: KafkaConsumer) -> None:
        """Every few seconds: reread from the start the partitions where the relay
        republishes a lost log (docs/operations.md, "Failure modes"). Every round: whether
        a member that waits for a rebuild has it (a query only while one waits), also when
        no record comes to tell."""
        self._reread_rebuilt(consumer, conn, [])
        now = time.monotonic()
        if now - self._relay_checked < 2.0:
            return
        self._relay_checked = now
        with conn.transaction(), conn.cursor() as cur:
            behind = behind_the_relay(cur, self.schema, [m.name for m in self.members])
        assigned = consumer.assignment()
        stale = [tp for tp in (TopicPartition(t, p) for t, p in behind) if tp in assigned]
        if stale:
            consumer.seek_to_beginning(*stale)

    def _new_consumer(self) -> KafkaConsumer:
        return KafkaConsumer(
            *self.topics,
            bootstrap_servers=self.bootstrap_servers,
            group_id=self.group_id,
            client_id=f"eventshop-projector-{self.name}",
            enable_auto_commit=False,  # offsets only after the read-model transaction
            auto_offset_reset="earliest",
            session_timeout_ms=self.session_timeout_ms,
            heartbeat_interval_ms=max(self.session_timeout_ms // 3, 100),
            max_poll_records=self.max_poll_records,
            # How long the broker may hold a fetch with no data. Apache Kafka answers as soon
            # as a record arrives; Tansu holds it the whole time: for a lone command most of its
            # read-your-writes delay, under load not (docs/operations.md, docs/benchmarks.md).
            fetch_max_wait_ms=self.fetch_max_wait_ms,
            reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
            metrics_enabled=CLIENT_METRICS,
        )
