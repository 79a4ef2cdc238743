"""What a batch's transaction reads once, at its start, for every projection applying it.

The members of a processing group each keep their own positions, aggregate versions and
parked events, but read them together: one statement reads the read models' table versions
(``FOR SHARE``: a rebuild's swap waits for the batch, and the batch for the swap), one locks
every member's position rows, one reads the applied versions of the batch's aggregates and
which members have parked events. The records are decoded once for all members. Their
position moves are written back in one statement too (:func:`projections.live.positions.save`).
A lone applier (a rebuild, a test) opens the same way, with only itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg import Cursor, sql

from contracts.bookkeeping import MODEL_VERSIONS_TABLE
from contracts.envelope import Envelope
from contracts.upcasting import UndecodableEventError
from projections.live import positions
from projections.live.aggregate_versions import AggregateVersions
from projections.live.aggregate_versions import read as read_versions
from projections.live.positions import PositionKey
from projections.live.rowsets import values
from projections.records import Incoming, Position

#: A record's identity in its batch (``id()``; the batch holds the records while it runs).
#: Not (topic, partition, offset): records read from the event store (a rebuild's
#: catch-up, projections/rebuild/store_reader.py) all carry offset -1.
RecordKey = int
Decoded = Envelope | UndecodableEventError


@dataclass(frozen=True)
class Share:
    """One projection's part of a batch."""

    projection: str
    records: Sequence[Incoming]
    #: Whether its live tables' version is read (a rebuild's shadow needs no check).
    check_table_version: bool = False


@dataclass(frozen=True)
class Opening:
    envelopes: dict[RecordKey, Decoded]
    table_versions: dict[str, int]
    positions: dict[PositionKey, Position]
    versions: dict[str, dict[UUID, int]]
    parked: frozenset[str]

    def envelopes_of(self, records: Sequence[Incoming]) -> list[Decoded]:
        return [self.envelopes[id(r)] for r in records]

    def positions_of(
        self, projection: str, records: Sequence[Incoming]
    ) -> dict[tuple[str, int], Position]:
        """The projection's positions at the batch's partitions, as locked: fresh ones for
        each attempt (a careful retry counts again from here)."""
        found = {}
        for topic, partition in _partitions(records):
            locked = self.positions[(projection, topic, partition)]
            found[(topic, partition)] = Position(locked.notification_id, locked.relay_epoch)
        return found

    def aggregate_versions(
        self, cur: Cursor[Any], schema: str, projection: str, aggregates: Iterable[UUID]
    ) -> AggregateVersions:
        """The projection's versions of ``aggregates``, as read at the opening."""
        read = self.versions.get(projection, {})
        versions = AggregateVersions(cur, schema, projection)
        versions.seed({a: read.get(a, 0) for a in aggregates}, projection in self.parked)
        return versions


def decode_all(records: Iterable[Incoming]) -> dict[RecordKey, Decoded]:
    """Each record's envelope (or why it has none), decoded once for every member."""
    return {id(r): _envelope(r) for r in records}


def open_batch(
    cur: Cursor[Any],
    schema: str,
    shares: Sequence[Share],
    decoded: dict[RecordKey, Decoded] | None = None,
) -> Opening:
    """Read and lock what ``shares`` need, in this order: table versions, positions (in
    ``shares``' order, then by topic and partition), aggregate versions. ``decoded``: the
    records' envelopes, if already decoded."""
    if decoded is None:
        decoded = decode_all(r for share in shares for r in share.records)
    checked = [s.projection for s in shares if s.check_table_version]
    tables = table_versions(cur, schema, checked) if checked else {}
    keys = [(s.projection, *tp) for s in shares for tp in _partitions(s.records)]
    locked = positions.lock(cur, schema, keys)
    aggregates = {e.aggregate_id for e in decoded.values() if isinstance(e, Envelope)}
    versions, parked = read_versions(cur, schema, [s.projection for s in shares], aggregates)
    return Opening(decoded, tables, locked, versions, parked)


def table_versions(cur: Cursor[Any], schema: str, projections: list[str]) -> dict[str, int]:
    """The live tables' version of each of ``projections`` that has one, held ``FOR SHARE``."""
    rows = cur.execute(
        sql.SQL(
            "SELECT projection, table_version FROM {} WHERE projection = ANY(ARRAY("
            "SELECT jsonb_array_elements_text(%s::jsonb))) ORDER BY projection FOR SHARE"
        ).format(sql.Identifier(schema, MODEL_VERSIONS_TABLE)),
        (values(projections),),
    ).fetchall()
    return {str(name): int(version) for name, version in rows}


def _partitions(records: Sequence[Incoming]) -> list[tuple[str, int]]:
    return sorted({(r.topic, r.partition) for r in records})


def _envelope(record: Incoming) -> Decoded:
    try:
        return Envelope.from_record(record.headers, record.value)
    except UndecodableEventError as error:
        return error
