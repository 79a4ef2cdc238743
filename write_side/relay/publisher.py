"""The relay: carries the event store's notification log to Kafka, in log order.

* One relay is active at a time: it holds a PostgreSQL advisory lock for as long as
  it publishes; a second relay waits as a standby, polling the lock every second. The
  active one takes the next leader epoch, and every checkpoint it writes names it: a
  relay that lost its place (its session gone, a newer leader elected) cannot move the
  checkpoint, and stops (LeadershipLostError). Records it had sent meanwhile are
  duplicates the consumers drop.
* It publishes stored bytes untouched (stored event = contract), keyed by aggregate id,
  to the partition :func:`contracts.topics.partition_for` names, and checkpoints only
  after the broker acknowledged every record of a batch. A failed or unknown send
  closes the producer and republishes from the checkpoint: duplicates are possible,
  loss is not; consumers deduplicate by ``notification_id``.
* It fails closed: a stored type it neither publishes nor knows as internal (a newer
  release wrote it) stops it at that event, reported as ``blocked``
  (:mod:`write_side.relay.blocking`); it never skips one.
* It notices a broker that lost its data (a topic recreated with a new topic id, or the
  broker acknowledging an offset it had already acknowledged) and republishes the log.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.application import Application
from eventsourcing.persistence import Notification
from kafka import KafkaAdminClient, KafkaProducer
from kafka.errors import KafkaError
from psycopg import sql

from contracts.bookkeeping import EVENTS_CHANNEL, partition_key
from contracts.causation import meta_of
from contracts.envelope import Envelope
from contracts.events import ContractEvent
from contracts.faults import crash_point
from contracts.topics import (
    CLIENT_METRICS,
    INTERNAL_EVENT_TYPES,
    RECONNECT_BACKOFF_MAX_MS,
    all_topics,
)
from contracts.upcasting import EVENTS_BY_NAME
from write_side.persistence.personal_keys import KeyRing
from write_side.relay.blocking import BlockReport, RelayStats, StoredTypes
from write_side.relay.checkpoint import (
    Checkpoint,
    LeadershipLostError,
    beat,
    ensure_topics,
    load_checkpoint,
    save_checkpoint,
    take_leadership,
    wait_for_leadership,
)
from write_side.relay.sealing import published_form

log = logging.getLogger(__name__)


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
        idle_poll_seconds: float = 2.0,
        loss_check_seconds: float = 2.0,
        blocked_retry_seconds: float = 5.0,
        contracts: Mapping[str, type[ContractEvent]] = EVENTS_BY_NAME,
        internal: frozenset[str] = INTERNAL_EVENT_TYPES,
    ) -> None:
        # Holding the application keeps its connection pool open.
        self.event_store = event_store
        self.recorder = event_store.recorder
        self.keys: KeyRing | None = getattr(event_store, "keys", None)
        self.database_url = database_url
        self.schema = schema
        self.bootstrap_servers = bootstrap_servers
        self.topic_prefix = topic_prefix
        self.batch_size = batch_size
        self.idle_poll_seconds = idle_poll_seconds
        self.loss_check_seconds = loss_check_seconds
        #: A blocked relay lets go of the lock (a newer standby may know the type), then
        #: tries again after this long.
        self.blocked_retry_seconds = blocked_retry_seconds
        self.types = StoredTypes(contracts, internal, topic_prefix)
        self.stats = RelayStats()
        self.blocks = BlockReport(schema, self.stats)
        self.active = threading.Event()
        #: The leader epoch this relay took when it last became active (0: never).
        self.epoch = 0

    # The supervised loop

    def run(self, stop: threading.Event) -> None:
        """Publish until ``stop`` is set; survives broker and database outages."""
        backoff = 0.2
        while not stop.is_set():
            lock_conn = None
            try:
                lock_conn = wait_for_leadership(self.database_url, self.schema, stop)
                if lock_conn is None:
                    return
                self.epoch = take_leadership(lock_conn, self.schema)
                log.info("relay: active as leader epoch %d", self.epoch)
                self.active.set()
                if self._publish_while_leader(lock_conn, stop):
                    self.active.clear()
                    lock_conn.close()  # let a standby of a newer release take over
                    lock_conn = None
                    stop.wait(self.blocked_retry_seconds)
                backoff = 0.2
            except (KafkaError, psycopg.Error, OSError, LeadershipLostError) as error:
                log.warning(
                    "relay: %s: %s; retrying in %.1fs", type(error).__name__, error, backoff
                )
                stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                self.active.clear()
                if lock_conn is not None:
                    lock_conn.close()

    def _publish_while_leader(
        self, lock_conn: psycopg.Connection[Any], stop: threading.Event
    ) -> bool:
        """Publish until ``stop``; True when it stopped at a stored type it does not know."""
        checkpoint = load_checkpoint(lock_conn, self.schema)
        producer = self._new_producer()
        admin = KafkaAdminClient(
            bootstrap_servers=self.bootstrap_servers,
            client_id="eventshop-relay",
            reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
        )
        try:
            checkpoint = self._check_broker(admin, checkpoint, lock_conn)
            last_check, beat_at = time.monotonic(), 0.0
            lock_conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(EVENTS_CHANNEL)))
            while not stop.is_set():
                beat_at = beat(lock_conn, self.schema, beat_at)
                notifications = self.recorder.select_notifications(
                    start=checkpoint.notification_id,
                    limit=self.batch_size,
                    inclusive_of_start=False,
                )
                if notifications:
                    blocked, more, before = None, len(notifications) == self.batch_size, checkpoint
                    try:
                        checkpoint, blocked = self._publish(producer, notifications, checkpoint)
                    except BrokerLostDataError as error:
                        checkpoint, more = self._start_over(checkpoint, str(error)), True
                    crash_point("relay.after_publish")
                    save_checkpoint(lock_conn, self.schema, checkpoint, self.epoch, before)
                    if blocked is not None:
                        self.blocks.block(lock_conn, blocked.topic, blocked.id)
                        return True
                    self.blocks.unblock(lock_conn)
                    if more:  # a full batch: read on; else what was inserted since NOTIFYs
                        continue  # (queued on lock_conn), and an empty read costs a query
                if time.monotonic() - last_check > self.loss_check_seconds:
                    checkpoint = self._check_broker(admin, checkpoint, lock_conn)
                    last_check = time.monotonic()
                # Wait for a NOTIFY, but poll anyway (at the heartbeat's pace): a lost
                # notification must not stall us.
                for _ in lock_conn.notifies(timeout=self.idle_poll_seconds, stop_after=1):
                    pass
        finally:
            producer.close(timeout=2)
            admin.close()
        return False

    # Publishing

    def _publish(
        self, producer: KafkaProducer, notifications: Sequence[Notification], checkpoint: Checkpoint
    ) -> tuple[Checkpoint, Notification | None]:
        """Publish in log order up to the first stored type this release does not know
        (returned: nothing at or after it is published or checkpointed)."""
        crash_point("relay.before_publish")
        now = datetime.now(UTC)
        futures, done, blocked = [], checkpoint.notification_id, None
        for n in notifications:
            if self.types.is_internal(n.topic):  # claims, credentials, payments: unpublished
                done = n.id
                continue
            if (placed := self.types.placement(n.topic, n.originator_id)) is None:
                blocked = n
                break
            aggregate_id = UUID(str(n.originator_id))
            version, payload = published_form(  # clear personal fields sealed: sealing.py
                self.keys, placed.event_type, placed.schema_version, aggregate_id, n.state
            )
            envelope = Envelope(
                notification_id=n.id,
                aggregate_id=aggregate_id,
                aggregate_version=n.originator_version,
                event_type=placed.event_type,
                schema_version=version,
                payload=payload,
                relay_epoch=checkpoint.republished,
                **_meta_headers(n.state),
            )
            futures.append(
                producer.send(
                    placed.topic,
                    key=str(envelope.aggregate_id).encode(),
                    value=payload,
                    headers=envelope.headers(now),
                    partition=placed.partition,
                )
            )
            done = n.id
        crash_point("relay.futures_pending")
        producer.flush(timeout=30)
        offsets = dict(checkpoint.offsets)
        for future in futures:
            metadata = future.get(timeout=0)  # raises the send's error, if any
            key = partition_key(metadata.topic, metadata.partition)
            if metadata.offset <= offsets.get(key, -1):
                # The broker handed out an offset we already saw acknowledged: it restarted empty.
                raise BrokerLostDataError(f"{key} acknowledged offset {metadata.offset} again")
            offsets[key] = metadata.offset
        self.stats.published += len(futures)
        self.stats.batches += 1
        self.stats.last_batch_size = len(futures)
        self.stats.last_published_at = time.time()
        return replace(checkpoint, notification_id=done, offsets=offsets), blocked

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
            reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
            metrics_enabled=CLIENT_METRICS,
        )

    # Broker data loss

    def _check_broker(
        self, admin: KafkaAdminClient, checkpoint: Checkpoint, conn: psycopg.Connection[Any]
    ) -> Checkpoint:
        """Create missing topics; if a topic we published to was recreated, start over.

        A recreated topic (the embedded broker restarted, or an operator deleted it) has a
        new topic id. End offsets are no evidence: Tansu reports a partition's end as the
        base offset of its last batch plus one, behind records it has acknowledged.
        """
        current = ensure_topics(admin, all_topics(self.topic_prefix))
        recreated = [t for t, tid in checkpoint.topic_ids.items() if current.get(t) != tid]
        if recreated:
            fresh = self._start_over(checkpoint, f"topics recreated: {recreated}")
            fresh.topic_ids = current
        elif current != checkpoint.topic_ids:
            fresh = replace(checkpoint, topic_ids={**checkpoint.topic_ids, **current})
        else:
            return checkpoint
        save_checkpoint(conn, self.schema, fresh, self.epoch)
        return fresh

    def _start_over(self, checkpoint: Checkpoint, reason: str) -> Checkpoint:
        log.warning("relay: the broker lost data we published (%s); republishing the log", reason)
        self.stats.republishes += 1
        return Checkpoint(0, {}, checkpoint.republished + 1, dict(checkpoint.topic_ids))


def _meta_headers(payload: bytes) -> dict[str, str]:
    """Correlation, causation and actor of a stored payload, for its Kafka headers."""
    meta = meta_of(payload)
    if meta is None:
        return {}
    return {
        "correlation_id": meta.correlation_id,
        "causation_id": meta.causation_id,
        "actor": meta.actor,
    }
