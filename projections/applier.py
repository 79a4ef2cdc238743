"""Apply a batch of records to a read model: rows and positions in one transaction.

Positions are tracked per (projection, topic, partition): the highest event-store
``notification_id`` processed there, which consistency tokens are checked against (an
event parked behind a gap is not yet reflected: see ``read_side.consistency``).
Duplicates (a relay retry, a republish, a redelivery after a crash) are recognised by
aggregate version, below, and dropped and counted. Rows, versions and position commit
together, so a crash can never apply an event twice; Kafka offsets are committed only
after this transaction (see :mod:`projections.consumer`).

Per-aggregate order. Each projection also tracks the last version it applied of every
aggregate it has seen. An event at or below it is a duplicate; one more than one above
it is parked (kept in ``projection_parked``, in the same transaction) and applied as
soon as the missing versions arrive: a gap is never skipped. Published aggregates have
contiguous versions (internal events belong to other aggregates), so every version
eventually arrives; events a projection has no handler for still advance the version.

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
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from contracts.bookkeeping import MODEL_VERSIONS_TABLE
from contracts.envelope import Envelope
from contracts.faults import crash_point
from contracts.readmodels import TABLE_VERSIONS
from contracts.upcasting import UndecodableEventError, decode, knows
from projections.applier_types import (
    DETERMINISTIC_ERRORS,
    BatchOutcome,
    DeadLetter,
    HandlerFailedError,
    Incoming,
    Position,
    RetryCarefullyError,
    TableVersionMismatchError,
    last_offset,
    last_published_at,
)
from projections.positions import PositionRows
from projections.projection import Projection
from projections.versions import DEAD_LETTER, NEEDS_UPGRADE, AggregateVersions

__all__ = [
    "DETERMINISTIC_ERRORS",
    "Applier",
    "BatchOutcome",
    "DeadLetter",
    "HandlerFailedError",
    "TableVersionMismatchError",
]

log = logging.getLogger(__name__)


class Applier:
    def __init__(
        self,
        projection: Projection,
        schema: str,
        max_attempts: int = 3,
        *,
        check_table_version: bool = False,
    ) -> None:
        self.projection = projection
        self.schema = schema
        #: Live projectors check, in each batch's transaction, that the tables are at the
        #: table version this code writes (a rebuild's shadow always is).
        self.check_table_version = check_table_version
        self._version_row = sql.SQL(
            "SELECT table_version FROM {} WHERE projection = %s FOR SHARE"
        ).format(sql.Identifier(schema, MODEL_VERSIONS_TABLE))
        #: A handler failure that is not about the event's content is retried (the batch
        #: rolls back and is redelivered) this many times before the record is dead-lettered.
        self.max_attempts = max_attempts
        self._attempts: dict[tuple[str, int, int], int] = {}
        self._careful = False
        self._versions: AggregateVersions
        self._positions = PositionRows(schema, projection.name)

    def apply(
        self,
        conn: psycopg.Connection[Any],
        records: Sequence[Incoming],
        before_commit: Any = None,
        high_watermarks: dict[tuple[str, int], int] | None = None,
    ) -> BatchOutcome:
        """Apply ``records`` in one transaction; ``before_commit(outcome)`` runs inside it.

        ``high_watermarks`` (the broker's end offset per partition, when known) is stored
        beside the position, so operators can see the lag.
        """
        try:
            return self._apply(conn, records, before_commit, high_watermarks, careful=False)
        except RetryCarefullyError:
            # Some handler failed: run the batch again, each event in its own savepoint,
            # so only the failing events are retried or dead-lettered.
            return self._apply(conn, records, before_commit, high_watermarks, careful=True)

    def _apply(
        self,
        conn: psycopg.Connection[Any],
        records: Sequence[Incoming],
        before_commit: Any,
        high_watermarks: dict[tuple[str, int], int] | None,
        *,
        careful: bool,
    ) -> BatchOutcome:
        self._careful = careful
        outcome = BatchOutcome()
        with conn.transaction(), conn.cursor() as cur:
            if self.check_table_version:
                self._check_table_version(cur)
            # Lock positions in one global order, so two consumers never deadlock.
            keys = sorted({(r.topic, r.partition) for r in records})
            positions = {key: self._positions.lock(cur, *key) for key in keys}
            self._versions = AggregateVersions(cur, self.schema, self.projection.name)
            for record in records:
                position = positions[(record.topic, record.partition)]
                self._apply_one(conn, cur, record, position, outcome)
            self._versions.flush()
            for (topic, partition), p in positions.items():
                self._positions.save(
                    cur,
                    topic,
                    partition,
                    p,
                    kafka_offset=last_offset(records, topic, partition),
                    high_watermark=(high_watermarks or {}).get((topic, partition), 0),
                    published_at=last_published_at(records, topic, partition),
                )
            if before_commit is not None:
                before_commit(outcome)
            # Rows, versions and positions written, not committed: all of it rolls back.
            crash_point("projector.inside_txn")
        return outcome

    def _check_table_version(self, cur: psycopg.Cursor[Any]) -> None:
        # FOR SHARE: a rebuild's swap (FOR UPDATE) waits for this batch, and this batch
        # for the swap; then it sees the version the swap installed.
        row = cur.execute(self._version_row, (self.projection.name,)).fetchone()
        live, wanted = (int(row[0]) if row else None), TABLE_VERSIONS[self.projection.name]
        if live != wanted:
            raise TableVersionMismatchError(self.projection.name, live, wanted)

    def _apply_one(
        self,
        conn: psycopg.Connection[Any],
        cur: psycopg.Cursor[Any],
        record: Incoming,
        position: Position,
        outcome: BatchOutcome,
    ) -> None:
        try:
            envelope = Envelope.from_record(record.headers, record.value)
        except UndecodableEventError as error:
            # No notification id to order it by: it cannot move the position.
            outcome.dead_letters.append(DeadLetter(record, None, error))
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
                handler(
                    cur,
                    self.schema,
                    envelope,
                    decode(envelope.event_type, envelope.schema_version, envelope.payload),
                )
            except psycopg.OperationalError:
                raise
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
            "%s: dead-lettering %s@%s:%s: %s",
            self.projection.name,
            envelope.event_type,
            record.topic,
            record.offset,
            error,
        )
        outcome.dead_letters.append(DeadLetter(record, envelope.notification_id, error))
        position.dead_lettered += 1
        # Sequenced: the letter keeps its place; later events of its aggregate park behind it.
        self._versions.park(envelope, record, DEAD_LETTER, error)
