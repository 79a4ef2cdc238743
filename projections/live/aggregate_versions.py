"""Per-aggregate versions a projection has applied, and the events parked in order.

A parked row has a ``reason``: ``gap`` (an earlier version has not arrived yet),
``dead_letter`` (this event could not be applied: every later event of its aggregate is
parked behind it until it is replayed or discarded), or ``needs_upgrade`` (a schema
version newer than this release reads: a newer release applies it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from psycopg import Cursor, sql

from contracts.bookkeeping import PARKED_TABLE, VERSIONS_TABLE
from contracts.envelope import Envelope
from contracts.redaction import redact
from projections.live.rowsets import rowset, values
from projections.records import Incoming, Versioned

GAP, DEAD_LETTER, NEEDS_UPGRADE = "gap", "dead_letter", "needs_upgrade"
_VERSIONED = ("projection", "aggregate_id", "version")


def read(
    cur: Cursor[Any], schema: str, projections: list[str], aggregates: set[UUID]
) -> tuple[dict[str, dict[UUID, int]], frozenset[str]]:
    """The applied versions of ``aggregates`` for each of ``projections``, and which of them
    have parked events: one statement for a whole processing group's batch."""
    rows = cur.execute(
        sql.SQL(
            "WITH p AS (SELECT jsonb_array_elements_text(%(projections)s::jsonb) AS projection)"
            " SELECT projection, aggregate_id, version FROM {} WHERE projection = ANY(ARRAY("
            "SELECT projection FROM p)) AND aggregate_id = ANY(ARRAY("
            "SELECT jsonb_array_elements_text(%(aggregates)s::jsonb)::uuid))"
            " UNION ALL SELECT p.projection, NULL, NULL FROM p"
            " WHERE EXISTS (SELECT 1 FROM {} WHERE projection = p.projection)"
        ).format(sql.Identifier(schema, VERSIONS_TABLE), sql.Identifier(schema, PARKED_TABLE)),
        {"projections": values(projections), "aggregates": values(aggregates)},
    ).fetchall()
    versions: dict[str, dict[UUID, int]] = {}
    parked = set()
    for projection, aggregate_id, version in rows:
        if aggregate_id is None:
            parked.add(str(projection))
        else:
            versions.setdefault(str(projection), {})[aggregate_id] = int(version)
    return versions, frozenset(parked)


def write(cur: Cursor[Any], schema: str, rows: Sequence[Versioned]) -> None:
    """Store applied versions, of any number of projections' aggregates, in one statement."""
    if rows:
        cur.execute(upsert(schema), (written(rows),))


def upsert(schema: str) -> sql.Composed:
    """The statement :func:`write` runs (one parameter: :func:`written`), for a caller
    that sends it with others in one statement (projections/live/group_batch.py)."""
    return sql.SQL(
        "INSERT INTO {} (projection, aggregate_id, version)"
        " SELECT * FROM jsonb_to_recordset(%s::jsonb)"
        " AS v(projection text, aggregate_id uuid, version int)"
        " ON CONFLICT (projection, aggregate_id) DO UPDATE SET version = EXCLUDED.version"
    ).format(sql.Identifier(schema, VERSIONS_TABLE))


def written(rows: Sequence[Versioned]) -> str:
    """``rows`` as :func:`upsert`'s parameter."""
    return rowset(rows, _VERSIONED)


class AggregateVersions:
    """Reads and writes through one transaction's cursor; caches what it has read."""

    def __init__(self, cur: Cursor[Any], schema: str, projection: str) -> None:
        self.cur = cur
        self.schema = schema
        self.projection = projection
        self.versions = sql.Identifier(schema, VERSIONS_TABLE)
        self.parked = sql.Identifier(schema, PARKED_TABLE)
        self._known: dict[UUID, int] = {}
        self._dirty: dict[UUID, int] = {}
        #: Whether any event of the projection is parked: read with its versions (``seed``).
        self._any_parked: bool | None = None

    def seed(self, known: dict[UUID, int], any_parked: bool) -> None:
        """What a batch's opening read for this projection (projections/live/opening.py)."""
        self._known.update(known)
        self._any_parked = any_parked

    def last(self, aggregate_id: UUID) -> int:
        if aggregate_id not in self._known:
            row = self.cur.execute(
                sql.SQL(
                    "SELECT version FROM {} WHERE projection = %s AND aggregate_id = %s"
                ).format(self.versions),
                (self.projection, aggregate_id),
            ).fetchone()
            self._known[aggregate_id] = int(row[0]) if row else 0
        return self._known[aggregate_id]

    def advance(self, aggregate_id: UUID, version: int) -> None:
        self._known[aggregate_id] = version
        self._dirty[aggregate_id] = version

    def flush(self) -> None:
        """Write the batch's new versions: once per aggregate, not once per event."""
        write(self.cur, self.schema, self.taken())

    def taken(self) -> list[Versioned]:
        """The batch's new versions, to be written (by :func:`write`) by whoever commits."""
        rows = [(self.projection, aid, version) for aid, version in self._dirty.items()]
        self._dirty.clear()
        return rows

    def park(
        self,
        envelope: Envelope,
        record: Incoming,
        reason: str = GAP,
        error: BaseException | None = None,
    ) -> None:
        self.cur.execute(
            sql.SQL(
                "INSERT INTO {} (projection, aggregate_id, version, notification_id, event_type,"
                " schema_version, payload, topic, partition, kafka_offset, parked_at, reason,"
                " error_class, error)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (projection, aggregate_id, version) DO UPDATE SET"
                " reason = EXCLUDED.reason, error_class = EXCLUDED.error_class,"
                " error = EXCLUDED.error"
            ).format(self.parked),
            (
                self.projection,
                envelope.aggregate_id,
                envelope.aggregate_version,
                envelope.notification_id,
                envelope.event_type,
                envelope.schema_version,
                envelope.payload,
                record.topic,
                record.partition,
                record.offset,
                datetime.now(UTC),
                reason,
                type(error).__name__ if error else None,
                redact(str(error))[:2000] if error else None,
            ),
        )
        self._any_parked = True

    def remove(self, envelope: Envelope) -> None:
        """Take ``envelope``'s own parked row away (a dead letter being released)."""
        self.cur.execute(
            sql.SQL(
                "DELETE FROM {} WHERE projection = %s AND aggregate_id = %s AND version = %s"
            ).format(self.parked),
            (self.projection, envelope.aggregate_id, envelope.aggregate_version),
        )

    def take_next(self, envelope: Envelope) -> tuple[Envelope, Incoming] | None:
        """The parked event right after ``envelope``'s version, removed from the parked
        rows; a dead letter stays (only `eventshop dlq replay|discard` releases one)."""
        if self._any_parked is None:
            _, with_parked = read(self.cur, self.schema, [self.projection], set())
            self._any_parked = self.projection in with_parked
        if not self._any_parked:
            return None
        row = self.cur.execute(
            sql.SQL(
                "DELETE FROM {} WHERE projection = %s AND aggregate_id = %s AND version = %s"
                " AND reason <> %s RETURNING notification_id, event_type, schema_version,"
                " payload, topic, partition, kafka_offset"
            ).format(self.parked),
            (self.projection, envelope.aggregate_id, envelope.aggregate_version + 1, DEAD_LETTER),
        ).fetchone()
        if row is None:
            return None
        parked = Envelope(
            notification_id=row[0],
            aggregate_id=envelope.aggregate_id,
            aggregate_version=envelope.aggregate_version + 1,
            event_type=row[1],
            schema_version=row[2],
            payload=bytes(row[3]),
            relay_epoch=envelope.relay_epoch,
        )
        return parked, Incoming(
            row[4], row[5], row[6], parked.headers(datetime.now(UTC)), parked.payload
        )
