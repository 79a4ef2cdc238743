"""Rebuild a projection's rows in memory, then write them with COPY.

The live path (:mod:`projections.live.applier`) runs SQL statements per event: right for a
stream, slow for a history of millions. A rebuild owns its shadow tables alone, so it
folds each batch of events into an in-memory copy of the rows (``fold`` functions, one
per event type, beside each projection's SQL handlers and with the same meaning), then
writes only the rows the batch changed: a DELETE of the stale copies and one COPY per
table, in the transaction that also saves the aggregates' versions and the rebuild's
checkpoint. A resumed rebuild reads the shadow's rows back as events need them.

Memory is bounded: past ``cached_rows`` rows, written ones leave memory and are read
back when a batch needs them (:mod:`projections.rebuild.row_cache`).

That the folds mean what the SQL handlers mean is a property test
(``tests/integration/test_bulk_fold.py``), and ``eventshop projections verify`` compares
a bulk-built copy with the live one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from contracts.bookkeeping import PARKED_TABLE, VERSIONS_TABLE
from contracts.envelope import Envelope
from contracts.personal import PERSONAL_FIELDS, KeyLookup, reveal
from contracts.redaction import redact
from contracts.topics import partition_for, topic_for
from contracts.upcasting import EVENTS_BY_NAME, decode, knows
from projections.live.aggregate_versions import DEAD_LETTER, GAP, NEEDS_UPGRADE
from projections.live.applier import DETERMINISTIC_ERRORS
from projections.live.batch_fold import table_shape
from projections.memory_rows import Rows, Table
from projections.personal_keys import KeyReader, personal_owners
from projections.projection import Projection
from projections.rebuild.row_cache import (
    CACHED_ROWS,
    RowReader,
    Versions,
    decoded,
    evict,
    prefetch,
    with_keys,
)


@dataclass
class FoldOutcome:
    parked: int = 0
    applied: int = 0
    duplicates: int = 0
    skipped: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)  # (notification id, error)


class NoKeyReaderError(RuntimeError):
    """A build without a database met a sealed personal field: it cannot tell erased from
    not read, so it says so (a dead letter) instead of guessing."""


class BulkBuild:
    """A projection's shadow tables in memory, folded forward event by event."""

    def __init__(
        self,
        projection: Projection,
        schema: str,
        tables: dict[str, Table],
        *,
        conn: psycopg.Connection[Any] | None = None,
        topic_prefix: str = "",
        cached_rows: int = CACHED_ROWS,
    ) -> None:
        self.projection = projection
        self.schema = schema
        self.topic_prefix = topic_prefix
        self.cached_rows = cached_rows
        self.reader = RowReader(conn, schema)
        for table in tables.values():
            table.load = self.reader
        self.rows = Rows(tables)
        self.versions = Versions(conn, schema, VERSIONS_TABLE, projection.name)
        self._dirty_versions: set[UUID] = set()
        #: Aggregates stopped at a dead letter (or a version this code cannot read): their
        #: later events are parked behind it, as the live applier does.
        self.blocked: set[UUID] = set()
        self._parked: list[tuple[Any, ...]] = []
        #: Opens personal fields (projections/personal_keys.py); the batch's keys are read
        #: once per batch, when it holds customer events. None: no database (unit tests).
        self.keys: KeyReader | None = None
        #: Or keys from somewhere else (a write side in memory, in unit tests).
        self.key_lookup: KeyLookup | None = None
        self._conn = conn
        self._batch_keys: dict[UUID, bytes] = {}

    @classmethod
    def load(
        cls,
        conn: psycopg.Connection[Any],
        projection: Projection,
        schema: str,
        topic_prefix: str = "",
        cached_rows: int = CACHED_ROWS,
    ) -> BulkBuild:
        """Read the table shapes; rows the shadow already holds (a resume) are read when
        an event needs them."""
        tables: dict[str, Table] = {}
        for name in projection.tables:
            columns, types, key = table_shape(conn, schema, name)
            table = Table(name, columns, key, types)
            table.complete = not _holds_rows(conn, sql.Identifier(schema, name))
            tables[name] = table
        build = cls(projection, schema, tables, conn=conn, topic_prefix=topic_prefix)
        build.cached_rows = cached_rows
        build.blocked = {
            aggregate_id
            for (aggregate_id,) in conn.execute(
                sql.SQL("SELECT DISTINCT aggregate_id FROM {} WHERE projection = %s").format(
                    sql.Identifier(schema, PARKED_TABLE)
                ),
                (projection.name,),
            )
        }
        build.versions.complete = not _holds_rows(
            conn, sql.Identifier(schema, VERSIONS_TABLE), projection.name
        )
        return build

    def fold_batch(self, events: Sequence[Envelope], outcome: FoldOutcome) -> None:
        """Fold ``events`` (store order), first reading back in a few statements the rows
        and versions they need that are no longer in memory."""
        self.versions.prefetch(e.aggregate_id for e in events)
        owners = personal_owners(events)
        if owners and self.keys is not None and self._conn is not None:
            with self._conn.cursor() as cur:
                self._batch_keys = self.keys.fetch(cur, owners)
        if all(t.complete for t in self.rows.tables.values()):
            for envelope in events:
                self.fold(envelope, outcome)
            return
        fold_for = self.projection.fold_for
        read = [decoded(e) if fold_for(e.event_type) else None for e in events]
        batch = [(e, r) for e, r in zip(events, read, strict=True) if r is not None]
        prefetch(self.projection, self.rows.tables, self.reader, batch)
        for envelope, event in zip(events, read, strict=True):
            self.fold(envelope, outcome, event)

    def fold(self, event: Envelope, outcome: FoldOutcome, decoded_event: Any = None) -> None:
        """Apply one event in store order; the version rule is the live applier's."""
        aggregate_id, version = event.aggregate_id, event.aggregate_version
        if version <= self.versions.get(aggregate_id):
            outcome.duplicates += 1
            return
        if aggregate_id in self.blocked:
            self._park(event, GAP, None, outcome)
            return
        fold = self.projection.fold_for(event.event_type)
        ignored = fold is None and self.projection.ignores(event.event_type)
        if not ignored and (fold is None or not knows(event.event_type, event.schema_version)):
            self._park(event, NEEDS_UPGRADE, None, outcome)  # as the live applier does
            return
        if fold is not None:
            try:
                if decoded_event is None:
                    decoded_event = decode(event.event_type, event.schema_version, event.payload)
                if event.event_type in PERSONAL_FIELDS:
                    decoded_event = reveal(decoded_event, aggregate_id, self._key)
                fold(self.rows, event, decoded_event)
            except DETERMINISTIC_ERRORS as error:
                # As the live applier: a sequenced dead letter, its successors behind it.
                outcome.failed.append((event.notification_id, repr(error)))
                self._park(event, DEAD_LETTER, error, outcome)
                return
        self.versions.known[aggregate_id] = version
        self._dirty_versions.add(aggregate_id)
        if fold is None:
            outcome.skipped += 1
        else:
            outcome.applied += 1

    def _key(self, owner: UUID) -> bytes | None:
        if self.key_lookup is not None:
            return self.key_lookup(owner)
        if self.keys is None:
            raise NoKeyReaderError(f"a sealed field of customer {owner}, and no keys to read")
        return self._batch_keys.get(owner)

    def _park(
        self, event: Envelope, reason: str, error: BaseException | None, outcome: FoldOutcome
    ) -> None:
        self.blocked.add(event.aggregate_id)
        contract = EVENTS_BY_NAME.get(event.event_type)
        topic = topic_for(contract, self.topic_prefix) if contract else None
        self._parked.append(
            (
                self.projection.name,
                event.aggregate_id,
                event.aggregate_version,
                event.notification_id,
                event.event_type,
                event.schema_version,
                event.payload,
                topic or "",
                partition_for(event.aggregate_id),
                -1,  # no Kafka offset: it came from the event store
                datetime.now(UTC),
                reason,
                type(error).__name__ if error else None,
                redact(str(error))[:2000] if error else None,
            )
        )
        outcome.parked += 1

    def flush(self, conn: psycopg.Connection[Any]) -> int:
        """Write the changed rows and versions (inside the caller's transaction)."""
        written = 0
        with conn.cursor() as cur:
            for table in self.rows.tables.values():
                written += _write(cur, self.schema, table)
            if self._parked:
                cur.executemany(
                    sql.SQL(
                        "INSERT INTO {} (projection, aggregate_id, version, notification_id,"
                        " event_type, schema_version, payload, topic, partition, kafka_offset,"
                        " parked_at, reason, error_class, error) VALUES"
                        " (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                        " ON CONFLICT DO NOTHING"
                    ).format(sql.Identifier(self.schema, PARKED_TABLE)),
                    self._parked,
                )
                self._parked = []
            if self._dirty_versions:
                versions = sql.Identifier(self.schema, VERSIONS_TABLE)
                stale = list(self._dirty_versions & self.versions.stored)
                if stale:
                    cur.execute(
                        sql.SQL(
                            "DELETE FROM {} WHERE projection = %s AND aggregate_id = ANY(%s)"
                        ).format(versions),
                        (self.projection.name, stale),
                    )
                with cur.copy(
                    sql.SQL(
                        "COPY {} (projection, aggregate_id, version) FROM STDIN (FORMAT BINARY)"
                    ).format(versions)
                ) as copy:
                    copy.set_types(["text", "uuid", "int4"])
                    name = self.projection.name
                    for aggregate_id in self._dirty_versions:
                        copy.write_row((name, aggregate_id, self.versions.known[aggregate_id]))
                self.versions.stored |= self._dirty_versions
                self._dirty_versions.clear()
        evict(self.rows.tables.values(), self.cached_rows)
        self.versions.evict(self.cached_rows)
        return written


def _write(cur: psycopg.Cursor[Any], schema: str, table: Table) -> int:
    if not table.dirty:
        return 0
    target = sql.Identifier(schema, table.name)
    stale = table.dirty & table.stored
    if stale:
        unnested, match, params = with_keys(table, list(stale))
        cur.execute(
            sql.SQL("DELETE FROM {} t{} WHERE {}").format(
                target, sql.SQL(" USING {}").format(unnested) if unnested else sql.SQL(""), match
            ),
            params,
        )
    # Binary: no text rendering of uuids and timestamps on either side.
    copy_sql = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        target, sql.SQL(", ").join(map(sql.Identifier, table.columns))
    )
    with cur.copy(copy_sql) as copy:
        copy.set_types(list(table.types))
        for key in table.dirty:
            row = table.rows[key]
            copy.write_row([row[c] for c in table.columns])
    written = len(table.dirty)
    table.stored |= table.dirty
    table.dirty = set()
    return written


def _holds_rows(conn: psycopg.Connection[Any], table: sql.Identifier, projection: str = "") -> bool:
    where = sql.SQL(" WHERE projection = %s") if projection else sql.SQL("")
    found = conn.execute(
        sql.SQL("SELECT EXISTS (SELECT 1 FROM {}{})").format(table, where),
        (projection,) if projection else None,
    ).fetchone()
    return bool(found and found[0])
