"""The per-event rules of the live path: relay epochs, duplicates, per-aggregate order,
parking and dead letters (:mod:`projections.live.applier` runs them inside a batch's
transaction; :mod:`projections.live.release` runs them on a released letter).

Broker data loss. Dedupe by position is sound only while a partition is read in
notification order. When the broker loses its data, the relay republishes the whole log
under a new ``relay_epoch``; a consumer may still hold an offset from the lost
incarnation and would start reading the new one in the middle, applying a later event
before earlier ones it never saw, which the position would then drop. So the first record
of a newer epoch is not applied: the partition is marked for a rewind, the consumer seeks
to its beginning, and records of older epochs found there are dropped (the new epoch
carries them all again).
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg

from contracts.envelope import Envelope
from contracts.upcasting import UndecodableEventError, decode, knows
from projections.live.aggregate_versions import DEAD_LETTER, NEEDS_UPGRADE, AggregateVersions
from projections.live.batch_fold import BatchRows
from projections.projection import Projection
from projections.records import (
    DETERMINISTIC_ERRORS,
    BatchOutcome,
    DeadLetter,
    HandlerFailedError,
    Incoming,
    Position,
    RetryCarefullyError,
)

log = logging.getLogger(__name__)


class EventRules:
    def __init__(self, projection: Projection, schema: str, max_attempts: int = 3) -> None:
        self.projection = projection
        self.schema = schema
        #: A handler failure that is not about the event's content is retried (the batch
        #: rolls back and is redelivered) this many times before the record is dead-lettered.
        self.max_attempts = max_attempts
        self._attempts: dict[tuple[str, int, int], int] = {}
        #: False on the fast path (no savepoint per event), True when redoing a batch.
        self._careful = False
        self._versions: AggregateVersions
        #: Set for a large batch of a row-local projection: events fold into these rows
        #: instead of running their statements (projections/live/batch_fold.py).
        self._folding: BatchRows | None = None

    def _apply_one(
        self,
        conn: psycopg.Connection[Any],
        cur: psycopg.Cursor[Any],
        record: Incoming,
        envelope: Envelope | UndecodableEventError,
        *,
        position: Position,
        outcome: BatchOutcome,
    ) -> None:
        if isinstance(envelope, UndecodableEventError):
            # No notification id to order it by: it cannot move the position.
            outcome.dead_letters.append(DeadLetter(record, None, envelope))
            position.dead_lettered += 1
            return
        key = (record.topic, record.partition)
        if key in outcome.rewind:
            return  # the rest of this partition's batch is read again after the rewind
        if envelope.relay_epoch > position.relay_epoch:
            position.relay_epoch = envelope.relay_epoch
            position.rewinds += 1
            outcome.rewind.add(key)
            return
        if envelope.relay_epoch < position.relay_epoch:
            outcome.duplicates += 1  # the newer epoch carries this event again
            position.duplicates += 1
            return
        position.notification_id = max(position.notification_id, envelope.notification_id)
        versions = self._versions
        last = versions.last(envelope.aggregate_id)
        if envelope.aggregate_version <= last:
            outcome.duplicates += 1
            position.duplicates += 1
            return
        if envelope.aggregate_version > last + 1:
            versions.park(envelope, record)
            outcome.parked += 1
            position.parked += 1
            return
        self._handle_in_order(conn, cur, envelope, record, position=position, outcome=outcome)

    def _handle_in_order(
        self,
        conn: psycopg.Connection[Any],
        cur: psycopg.Cursor[Any],
        envelope: Envelope,
        record: Incoming,
        *,
        position: Position,
        outcome: BatchOutcome,
    ) -> None:
        """Handle the next version of an aggregate, then whatever was parked right behind
        it, in order, until a gap, a dead letter or a version this release cannot read."""
        while self._handle(conn, cur, envelope, record, position=position, outcome=outcome):
            following = self._versions.take_next(envelope)
            if following is None:
                return
            envelope, record = following

    def _handle(
        self,
        conn: psycopg.Connection[Any],
        cur: psycopg.Cursor[Any],
        envelope: Envelope,
        record: Incoming,
        *,
        position: Position,
        outcome: BatchOutcome,
    ) -> bool:
        """Apply one in-order event (or skip it). True: its version is done. False: it is
        parked (a dead letter, or a schema version ahead) and its successors wait."""
        handler = self.projection.handler_for(envelope.event_type)
        if handler is None:
            self._versions.advance(envelope.aggregate_id, envelope.aggregate_version)
            outcome.skipped += 1
            position.skipped += 1
            return True
        if not knows(envelope.event_type, envelope.schema_version):
            self._versions.park(envelope, record, NEEDS_UPGRADE)
            outcome.parked += 1
            position.parked += 1
            return False
        if not self._careful:
            # The fast path: no savepoint per event. Any failure reruns the batch carefully.
            try:
                event = decode(envelope.event_type, envelope.schema_version, envelope.payload)
                if self._folding is not None:
                    self._folding.fold(envelope, event)
                else:
                    handler(cur, self.schema, envelope, event)
            except psycopg.Error:
                raise  # judged where the pipeline ends (above)
            except Exception as error:
                raise RetryCarefullyError from error
        else:
            try:
                event = decode(envelope.event_type, envelope.schema_version, envelope.payload)
                with conn.transaction():  # a savepoint: a failing handler undoes only itself
                    handler(cur, self.schema, envelope, event)
            except psycopg.OperationalError:
                raise  # the connection, not the event: the whole batch is retried
            except DETERMINISTIC_ERRORS as error:
                self._dead_letter(record, envelope, error, position, outcome)
                return False
            except Exception as error:
                key = (record.topic, record.partition, record.offset)
                self._attempts[key] = self._attempts.get(key, 0) + 1
                if self._attempts[key] < self.max_attempts:
                    raise HandlerFailedError(record, error) from error
                del self._attempts[key]
                self._dead_letter(record, envelope, error, position, outcome)
                return False
        self._versions.advance(envelope.aggregate_id, envelope.aggregate_version)
        outcome.applied += 1
        position.applied += 1
        return True

    def _dead_letter(
        self,
        record: Incoming,
        envelope: Envelope,
        error: BaseException,
        position: Position,
        outcome: BatchOutcome,
    ) -> None:
        log.warning(
            "%s: dead-lettering %s@%s:%s (correlation %s): %s",
            self.projection.name,
            envelope.event_type,
            record.topic,
            record.offset,
            envelope.correlation_id or "-",
            error,
        )
        outcome.dead_letters.append(DeadLetter(record, envelope.notification_id, error))
        position.dead_lettered += 1
        # Sequenced: the letter keeps its place; later events of its aggregate park behind it.
        self._versions.park(envelope, record, DEAD_LETTER, error)
