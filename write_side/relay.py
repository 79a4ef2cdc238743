"""The relay: carries the event store's notification log to Kafka, in log order.

* One relay is active at a time: it holds a PostgreSQL advisory lock for as long as
  it publishes; a second relay waits as a standby.
* It publishes stored bytes untouched (stored event = contract), keyed by aggregate id,
  to the partition :func:`contracts.topics.partition_for` names, and checkpoints only
  after the broker acknowledged every record of a batch. A failed or unknown send
  closes the producer and republishes from the checkpoint: duplicates are possible,
  loss is not; consumers deduplicate by ``notification_id``.
* It notices a broker that lost its data (topics missing, or a partition's end offset
  behind the offset it acknowledged) and republishes the whole log.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson
import psycopg
from eventsourcing.application import Application
from eventsourcing.persistence import Notification
from kafka import KafkaAdminClient, KafkaProducer, TopicPartition
from kafka.admin import OffsetSpec
from kafka.errors import KafkaError, TopicAlreadyExistsError
from psycopg import sql

from contracts.envelope import Envelope
from contracts.topics import PARTITIONS, all_topics, partition_for, topic_for
from contracts.upcasting import EVENTS_BY_NAME, parse_topic

log = logging.getLogger(__name__)


@dataclass
class Checkpoint:
    notification_id: int = 0
    #: ``"topic:partition" -> offset`` of the last record the broker acknowledged.
    offsets: dict[str, int] = field(default_factory=dict)
    republished: int = 0


@dataclass
class RelayStats:
    published: int = 0
    batches: int = 0
    republishes: int = 0
    last_published_at: float = 0.0


class BrokerLostDataError(Exception):
    """The broker holds less than we published: its data was lost."""


class KafkaRelay:
    def __init__(
        self,
        *,
        event_store: Application[Any],
        database_url: str,
        schema: str,
        bootstrap_servers: str,
        topic_prefix: str = "",
        batch_size: int = 500,
        idle_poll_seconds: float = 0.5,
        loss_check_seconds: float = 2.0,
    ) -> None:
        # Holding the application keeps its connection pool open.
        self.event_store = event_store
        self.recorder = event_store.recorder
        self.database_url = database_url
        self.schema = schema
        self.bootstrap_servers = bootstrap_servers
        self.topic_prefix = topic_prefix
        self.batch_size = batch_size
        self.idle_poll_seconds = idle_poll_seconds
        self.loss_check_seconds = loss_check_seconds
        self.stats = RelayStats()
        self.active = threading.Event()

    # The supervised loop

    def run(self, stop: threading.Event) -> None:
        """Publish until ``stop`` is set; survives broker and database outages."""
        backoff = 0.2
        while not stop.is_set():
            lock_conn = None
            try:
                lock_conn = self._acquire_lock(stop)
                if lock_conn is None:
                    return
                self.active.set()
                self._publish_while_leader(lock_conn, stop)
                backoff = 0.2
            except (KafkaError, psycopg.Error, OSError) as error:
                log.warning(
                    "relay: %s: %s; retrying in %.1fs", type(error).__name__, error, backoff
                )
                stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                self.active.clear()
                if lock_conn is not None:
                    lock_conn.close()

    def _acquire_lock(self, stop: threading.Event) -> psycopg.Connection[Any] | None:
        conn = psycopg.connect(self.database_url, autocommit=True)
        key = f"eventshop-relay:{self.schema}"
        while not stop.is_set():
            row = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (key,)).fetchone()
            if row and row[0]:
                log.info("relay: active (advisory lock %r held)", key)
                return conn
            stop.wait(1.0)
        conn.close()
        return None

    def _publish_while_leader(
        self, lock_conn: psycopg.Connection[Any], stop: threading.Event
    ) -> None:
        checkpoint = self._load_checkpoint(lock_conn)
        producer = self._new_producer()
        try:
            checkpoint = self._check_broker(checkpoint, lock_conn)
            last_check = time.monotonic()
            lock_conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel())))
            while not stop.is_set():
                notifications = self.recorder.select_notifications(
                    start=checkpoint.notification_id,
                    limit=self.batch_size,
                    inclusive_of_start=False,
                )
                if notifications:
                    try:
                        checkpoint = self._publish(producer, notifications, checkpoint)
                    except BrokerLostDataError as error:
                        log.warning("relay: %s", error)
                        checkpoint = self._start_over(lock_conn, checkpoint)
                    self._save_checkpoint(lock_conn, checkpoint)
                    continue
                if time.monotonic() - last_check > self.loss_check_seconds:
                    checkpoint = self._check_broker(checkpoint, lock_conn)
                    last_check = time.monotonic()
                # Wait for a NOTIFY, but poll anyway: a lost notification must not stall us.
                for _ in lock_conn.notifies(timeout=self.idle_poll_seconds, stop_after=1):
                    pass
        finally:
            producer.close(timeout=2)

    # Publishing

    def _publish(
        self, producer: KafkaProducer, notifications: Sequence[Notification], checkpoint: Checkpoint
    ) -> Checkpoint:
        now = datetime.now(UTC)
        futures = []
        for n in notifications:
            type_name, version = parse_topic(n.topic)
            contract = EVENTS_BY_NAME.get(type_name)
            topic = topic_for(contract, self.topic_prefix) if contract else None
            if topic is None:
                continue  # internal event (uniqueness claims): stored, never published
            envelope = Envelope(
                notification_id=n.id,
                aggregate_id=UUID(str(n.originator_id)),
                aggregate_version=n.originator_version,
                event_type=type_name,
                schema_version=version,
                payload=n.state,
            )
            futures.append(
                producer.send(
                    topic,
                    key=str(envelope.aggregate_id).encode(),
                    value=n.state,
                    headers=envelope.headers(now),
                    partition=partition_for(envelope.aggregate_id),
                )
            )
        producer.flush(timeout=30)
        offsets = dict(checkpoint.offsets)
        for future in futures:
            metadata = future.get(timeout=0)  # raises the send's error, if any
            key = f"{metadata.topic}:{metadata.partition}"
            if metadata.offset <= offsets.get(key, -1):
                # The broker handed out an offset we already saw acknowledged: it restarted empty.
                raise BrokerLostDataError(f"{key} acknowledged offset {metadata.offset} again")
            offsets[key] = metadata.offset
        self.stats.published += len(futures)
        self.stats.batches += 1
        self.stats.last_published_at = time.time()
        return Checkpoint(notifications[-1].id, offsets, checkpoint.republished)

    def _new_producer(self) -> KafkaProducer:
        return KafkaProducer(
            bootstrap_servers=self.bootstrap_servers,
            client_id="eventshop-relay",
            # Idempotence and acks=all are defaults, but a conflicting setting silently
            # turns idempotence off: say both out loud.
            enable_idempotence=True,
            acks="all",
            linger_ms=2,
            max_block_ms=5000,
            request_timeout_ms=10000,
            delivery_timeout_ms=30000,
            allow_auto_create_topics=False,
        )

    # Broker data loss

    def _check_broker(self, checkpoint: Checkpoint, conn: psycopg.Connection[Any]) -> Checkpoint:
        """Create missing topics; if the broker lost what we published, start over."""
        admin = KafkaAdminClient(
            bootstrap_servers=self.bootstrap_servers, client_id="eventshop-relay"
        )
        try:
            existing = set(admin.list_topics())
            missing = [t for t in all_topics(self.topic_prefix) if t not in existing]
            if missing:
                with contextlib.suppress(TopicAlreadyExistsError):
                    admin.create_topics(
                        {
                            t: {"num_partitions": PARTITIONS, "replication_factor": 1}
                            for t in missing
                        },
                        wait_for_metadata=True,
                    )
            lost = bool(checkpoint.offsets) and self._broker_behind(admin, checkpoint)
        finally:
            admin.close()
        return self._start_over(conn, checkpoint) if lost else checkpoint

    def _start_over(self, conn: psycopg.Connection[Any], checkpoint: Checkpoint) -> Checkpoint:
        log.warning("relay: the broker lost data we published; republishing the whole log")
        self.stats.republishes += 1
        fresh = Checkpoint(0, {}, checkpoint.republished + 1)
        self._save_checkpoint(conn, fresh)
        return fresh

    def _broker_behind(self, admin: KafkaAdminClient, checkpoint: Checkpoint) -> bool:
        specs = {}
        for key in checkpoint.offsets:
            topic, _, partition = key.rpartition(":")
            specs[TopicPartition(topic, int(partition))] = OffsetSpec.LATEST
        try:
            ends = admin.list_partition_offsets(specs)
        except KafkaError:
            return True  # a partition we published to is unknown to the broker
        return any(
            ends[tp].offset <= checkpoint.offsets[f"{tp.topic}:{tp.partition}"] for tp in specs
        )

    # Checkpoint

    def _channel(self) -> str:
        return "shop_events"

    def _load_checkpoint(self, conn: psycopg.Connection[Any]) -> Checkpoint:
        row = conn.execute(
            sql.SQL(
                "SELECT notification_id, partition_offsets, republished FROM {}.relay_checkpoint"
            ).format(sql.Identifier(self.schema))
        ).fetchone()
        if row is None:
            return Checkpoint()
        return Checkpoint(int(row[0]), dict(row[1]), int(row[2]))

    def _save_checkpoint(self, conn: psycopg.Connection[Any], checkpoint: Checkpoint) -> None:
        conn.execute(
            sql.SQL(
                "UPDATE {}.relay_checkpoint SET notification_id = %s, partition_offsets = %s,"
                " republished = %s, updated_at = now()"
            ).format(sql.Identifier(self.schema)),
            (
                checkpoint.notification_id,
                orjson.dumps(checkpoint.offsets).decode(),
                checkpoint.republished,
            ),
        )
