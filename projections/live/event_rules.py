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
import time
from dataclasses import dataclass
from typing import Any

import psycopg

from contracts.envelope import Envelope
from contracts.personal import ERASURE, masked
from contracts.upcasting import UndecodableEventError, decode, knows
from projections.live.aggregate_versions import DEAD_LETTER, NEEDS_UPGRADE, AggregateVersions
from projections.live.batch_fold import BatchRows
from projections.personal_keys import KeyReader
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


@dataclass
class Batch:
    """What the rules share while they apply one batch (or one released letter), in its
    transaction. Counts go to each record's position; the batch's outcome gathers its dead
    letters and rewinds (and, at the end, the sum of its positions' counts)."""

    conn: psycopg.Connection[Any]
    cur: psycopg.Cursor[Any]
    versions: AggregateVersions
    outcome: BatchOutcome
    #: False on the fast path (no savepoint per event), True when redoing a batch.
    careful: bool = False
    #: Set for a large batch of a row-local projection: events fold into these rows
    #: instead of running their statements (projections/live/batch_fold.py).
    folding: BatchRows | None = None


class EventRules:
    def __init__(self, projection: Projection, schema: str, max_attempts: int = 3) -> None:
        self.projection = projection
        self.schema = schema
        #: Opens personal fields with their owners' keys (projections/personal_keys.py).
        self.keys = KeyReader(schema)
        #: A handler failure that is not about the event's content is retried (the batch
        #: rolls back and is redelivered) this many times before the record is dead-lettered.
        self.max_attempts = max_attempts
        self._attempts: dict[tuple[str, int, int], int] = {}
        self._upgrade_logged = -1e9

    def apply_one(
        self,
        batch: Batch,
        record: Incoming,
        envelope: Envelope | UndecodableEventError,
        position: Position,
    ) -> None:
        if isinstance(envelope, UndecodableEventError):
            # No notification id to order it by: it cannot move the position.
            batch.outcome.dead_letters.append(DeadLetter(record, None, envelope))
            position.dead_lettered += 1
            return
        key = (record.topic, record.partition)
        if key in batch.outcome.rewind:
            return  # the rest of this partition's batch is read again after the rewind
        if envelope.relay_epoch > position.relay_epoch:
            position.relay_epoch = envelope.relay_epoch
            position.rewinds += 1
            batch.outcome.rewind.add(key)
            return
        if envelope.relay_epoch < position.relay_epoch:
            position.duplicates += 1  # the newer epoch carries this event again
            return
        position.notification_id = max(position.notification_id, envelope.notification_id)
        last = batch.versions.last(envelope.aggregate_id)
        if envelope.aggregate_version <= last:
            position.duplicates += 1
            return
        if envelope.aggregate_version > last + 1:
            batch.versions.park(envelope, record)
            position.parked += 1
            if envelope.event_type == ERASURE:
                self._scrub_now(batch, envelope)
            return
        self.handle_in_order(batch, envelope, record, position)

    def handle_in_order(
        self, batch: Batch, envelope: Envelope, record: Incoming, position: Position
    ) -> None:
        """Handle the next version of an aggregate, then whatever was parked right behind
        it, in order, until a gap, a dead letter or a version this release cannot read."""
        while self._handle(batch, envelope, record, position):
            following = batch.versions.take_next(envelope)
            if following is None:
                return
            envelope, record = following

    def _handle(
        self, batch: Batch, envelope: Envelope, record: Incoming, position: Position
    ) -> bool:
        """Apply one in-order event (or skip it on purpose). True: its version is done.
        False: it is parked (a dead letter, or a type or schema version this release cannot
        read: "needs upgrade") and its successors wait."""
        handler = self.projection.handler_for(envelope.event_type)
        if handler is None and self.projection.ignores(envelope.event_type):
            batch.versions.advance(envelope.aggregate_id, envelope.aggregate_version)
            position.skipped += 1
            return True
        if handler is None or not knows(envelope.event_type, envelope.schema_version):
            # A newer release wrote it: skipping would mark it applied for good (the new
            # release would then drop it as a duplicate). It waits, with its successors.
            self._needs_upgrade(envelope)
            batch.versions.park(envelope, record, NEEDS_UPGRADE)
            position.parked += 1
            return False
        if not batch.careful:
            # The fast path: no savepoint per event. Any failure reruns the batch carefully.
            try:
                event = decode(envelope.event_type, envelope.schema_version, envelope.payload)
                event = self.keys.reveal(batch.cur, envelope, event)
                if batch.folding is not None:
                    batch.folding.fold(envelope, event)
                else:
                    handler(batch.cur, self.schema, envelope, event)
            except psycopg.Error:
                raise  # judged where the pipeline ends (the applier)
            except Exception as error:
                raise RetryCarefullyError from error
        else:
            event = None  # its personal values are masked in what a failure leaves behind
            try:
                event = decode(envelope.event_type, envelope.schema_version, envelope.payload)
                event = self.keys.reveal(batch.cur, envelope, event)
                with batch.conn.transaction():  # a savepoint: a failing handler undoes itself
                    handler(batch.cur, self.schema, envelope, event)
            except psycopg.OperationalError:
                raise  # the connection, not the event: the whole batch is retried
            except DETERMINISTIC_ERRORS as error:
                self._dead_letter(batch, record, envelope, masked(error, event), position)
                return False
            except Exception as error:
                key = (record.topic, record.partition, record.offset)
                self._attempts[key] = self._attempts.get(key, 0) + 1
                if self._attempts[key] < self.max_attempts:
                    shown = masked(error, event)  # no cause chain quoting what it masked
                    raise HandlerFailedError(record, shown) from (error if shown is error else None)
                del self._attempts[key]
                self._dead_letter(batch, record, envelope, masked(error, event), position)
                return False
        batch.versions.advance(envelope.aggregate_id, envelope.aggregate_version)
        position.applied += 1
        return True

    def _scrub_now(self, batch: Batch, envelope: Envelope) -> None:
        """An erasure parked behind a gap or a dead letter of its customer scrubs their rows
        at once, not when the letter is released: until then the rows would hold what was
        opened before the key was destroyed. Its version stays parked; applied again in
        order later it changes nothing (the rows' version rule), and whatever waits with it
        opens as "erased" now."""
        handler = self.projection.handler_for(envelope.event_type)
        if handler is None:
            return
        try:
            event = decode(envelope.event_type, envelope.schema_version, envelope.payload)
            with batch.conn.transaction():
                if batch.folding is not None:
                    batch.folding.fold(envelope, event)
                else:
                    handler(batch.cur, self.schema, envelope, event)
        except psycopg.OperationalError:
            raise
        except Exception as error:
            log.warning(
                "%s: could not scrub erased %s early: %s",
                self.projection.name,
                envelope.aggregate_id,
                error,
            )

    def _needs_upgrade(self, envelope: Envelope) -> None:
        """One log line a minute while events wait for a newer release."""
        now = time.monotonic()
        if now - self._upgrade_logged >= 60:
            self._upgrade_logged = now
            log.warning(
                "%s: needs upgrade: %s v%d (aggregate %s) waits for a release that reads it",
                self.projection.name,
                envelope.event_type,
                envelope.schema_version,
                envelope.aggregate_id,
            )

    def _dead_letter(
        self,
        batch: Batch,
        record: Incoming,
        envelope: Envelope,
        error: BaseException,
        position: Position,
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
        batch.outcome.dead_letters.append(DeadLetter(record, envelope.notification_id, error))
        position.dead_lettered += 1
        # Sequenced: the letter keeps its place; later events of its aggregate park behind it.
        batch.versions.park(envelope, record, DEAD_LETTER, error)
