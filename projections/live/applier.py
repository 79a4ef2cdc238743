"""Apply a batch of records to a read model: rows and positions in one transaction.

Positions are tracked per (projection, topic, partition): the highest event-store
``notification_id`` processed there, which consistency tokens are checked against (an
event parked behind a gap is not yet reflected: see ``read_side.consistency``).
Duplicates (a relay retry, a republish, a redelivery after a crash) are recognised by
aggregate version, below, and dropped and counted. Rows, versions and position commit
together, so a crash can never apply an event twice; Kafka offsets are committed only
after this transaction (see :mod:`projections.live.consumer`).

Per-aggregate order. Each projection also tracks the last version it applied of every
aggregate it has seen. An event at or below it is a duplicate; one more than one above
it is parked (kept in ``projection_parked``, in the same transaction) and applied as
soon as the missing versions arrive: a gap is never skipped. Published aggregates have
contiguous versions (internal events belong to other aggregates), so every version
eventually arrives; events a projection has no handler for still advance the version.

The rules per event (epochs, duplicates, order, parking, dead letters) are in
:mod:`projections.live.event_rules`. What a batch reads first (table version, positions,
aggregate versions) is read for all members of a processing group at once
(:mod:`projections.live.opening`); the rest of its statements are sent in pipeline mode:
see ``Applier._apply``.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any

import psycopg

from contracts.envelope import Envelope
from contracts.faults import crash_point
from contracts.readmodels import TABLE_VERSIONS
from contracts.upcasting import UndecodableEventError
from projections.live.batch_fold import FOLD_FROM_RECORDS, BatchRows
from projections.live.event_rules import Batch, EventRules
from projections.live.opening import Opening, Share, open_batch, table_versions
from projections.live.positions import save as save_positions
from projections.projection import Projection
from projections.records import (
    DETERMINISTIC_ERRORS,
    BatchOutcome,
    DeadLetter,
    HandlerFailedError,
    Incoming,
    Position,
    PositionMove,
    RetryCarefullyError,
    TableVersionMismatchError,
    last_offset,
    last_published_at,
)

__all__ = [
    "DETERMINISTIC_ERRORS",
    "Applier",
    "BatchOutcome",
    "DeadLetter",
    "HandlerFailedError",
    "TableVersionMismatchError",
]


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
        self.rules = EventRules(projection, schema, max_attempts)
        #: Live projectors check, in each batch's transaction, that the tables are at the
        #: table version this code writes (a rebuild's shadow always is).
        self.check_table_version = check_table_version
        #: Batches this large of a row-local projection are folded (projections/live/batch_fold.py).
        self.fold_from_records = FOLD_FROM_RECORDS
        self._batch_rows = BatchRows(projection, schema) if projection.row_local else None

    def share(self, records: Sequence[Incoming]) -> Share:
        return Share(self.projection.name, records, self.check_table_version)

    def apply(
        self,
        conn: psycopg.Connection[Any],
        records: Sequence[Incoming],
        before_commit: Any = None,
        high_watermarks: dict[tuple[str, int], int] | None = None,
        *,
        opening: Opening | None = None,
        savepoint: bool = True,
    ) -> BatchOutcome:
        """Apply ``records`` in one transaction; ``before_commit(outcome)`` runs inside it.

        ``high_watermarks`` (the broker's end offset per partition, when known) is stored
        beside the position, so operators can see the lag. With ``opening`` (its processing
        group read it for all members, in the transaction this one nests in) the applier
        reads nothing of its own and leaves its position moves in ``outcome.moves`` for the
        group to write with the others'; without, it opens and moves its positions itself.
        ``savepoint=False`` (only with ``opening``): no transaction of its own, and its
        statements go into the pipeline the group holds open for all members (one sync a
        batch); a failing handler raises ``RetryCarefullyError``, a failing statement
        surfaces where the group's pipeline ends, and the group redoes its whole batch.
        """
        args = (conn, records, before_commit, high_watermarks, opening)
        if not savepoint:
            assert opening is not None, "only a group's member applies without a savepoint"
            return self._apply(*args, careful=False, savepoint=False)
        try:
            return self._apply(*args, careful=False)
        except RetryCarefullyError:
            # Some handler failed: run the batch again, each event in its own savepoint,
            # so only the failing events are retried or dead-lettered.
            return self._apply(*args, careful=True)

    def _apply(
        self,
        conn: psycopg.Connection[Any],
        records: Sequence[Incoming],
        before_commit: Any,
        high_watermarks: dict[tuple[str, int], int] | None,
        opening: Opening | None,
        *,
        careful: bool,
        savepoint: bool = True,
    ) -> BatchOutcome:
        name = self.projection.name
        with conn.transaction() if savepoint else nullcontext(), conn.cursor() as cur:
            opened = opening or open_batch(cur, self.schema, [self.share(records)])
            if self.check_table_version:
                self._check_table_version(opened.table_versions.get(name))
            positions = opened.positions_of(name, records)
            envelopes = opened.envelopes_of(records)
            aggregates = {e.aggregate_id for e in envelopes if isinstance(e, Envelope)}
            versions = opened.aggregate_versions(cur, self.schema, name, aggregates)
            batch = Batch(conn, cur, versions, BatchOutcome(), careful=careful)
            batch.outcome.moves = _moves(name, records, positions, high_watermarks or {})
            if not careful and self._batch_rows and len(records) >= self.fold_from_records:
                self._batch_rows.load(conn, aggregates)
                batch.folding = self._batch_rows  # rows folded for this batch only
            if careful or not savepoint:  # (a group's fast path: in the group's pipeline)
                self._apply_all(batch, records, envelopes, positions, own=opening is None)
            else:
                # The fast path sends every statement without waiting for its answer
                # (pipeline mode): one round trip per batch instead of one per event.
                # An error surfaces at the next sync; the batch is then redone carefully.
                try:
                    with conn.pipeline():
                        self._apply_all(batch, records, envelopes, positions, own=opening is None)
                except RetryCarefullyError:
                    raise
                except psycopg.Error as error:
                    if conn.broken:
                        raise  # the connection, not an event: the whole batch is retried
                    raise RetryCarefullyError from error
            for position in positions.values():
                batch.outcome.add(position)
            if before_commit is not None:
                before_commit(batch.outcome)
            # What the batch wrote is not committed yet: all of it rolls back.
            crash_point("projector.inside_txn")
        return batch.outcome

    def _apply_all(
        self,
        batch: Batch,
        records: Sequence[Incoming],
        envelopes: Sequence[Envelope | UndecodableEventError],
        positions: dict[tuple[str, int], Position],
        *,
        own: bool,
    ) -> None:
        if self.projection.shared_rows is not None:
            decoded = [e for e in envelopes if isinstance(e, Envelope)]
            self.projection.shared_rows(batch.cur, self.schema, decoded)
        for record, envelope in zip(records, envelopes, strict=True):
            position = positions[(record.topic, record.partition)]
            self.rules.apply_one(batch, record, envelope, position)
        if batch.folding is not None:
            batch.folding.write(batch.cur)
        if own:  # a lone applier: its versions and positions move here, in the same round trip
            batch.versions.flush()
            save_positions(batch.cur, self.schema, batch.outcome.moves)
            batch.outcome.moves = []
        else:  # for the group to write with its other members'
            batch.outcome.versions = batch.versions.taken()

    def tables_ready(self, conn: psycopg.Connection[Any]) -> bool:
        """True when the live tables are at the version this code writes."""
        with conn.transaction(), conn.cursor() as cur:
            live = table_versions(cur, self.schema, [self.projection.name])
        return live.get(self.projection.name) == TABLE_VERSIONS[self.projection.name]

    def _check_table_version(self, live: int | None) -> None:
        wanted = TABLE_VERSIONS[self.projection.name]
        if live != wanted:
            raise TableVersionMismatchError(self.projection.name, live, wanted)


def _moves(
    projection: str,
    records: Sequence[Incoming],
    positions: dict[tuple[str, int], Position],
    marks: dict[tuple[str, int], int],
) -> list[PositionMove]:
    """Where the batch leaves each partition's position (its counts fill in as it applies)."""
    return [
        PositionMove(
            projection,
            topic,
            partition,
            p,
            kafka_offset=last_offset(records, topic, partition),
            high_watermark=marks.get((topic, partition), 0),
            published_at=last_published_at(records, topic, partition),
        )
        for (topic, partition), p in positions.items()
    ]
