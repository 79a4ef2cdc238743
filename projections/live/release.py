"""Release a sequenced dead letter: replay it with the code deployed now, or discard it,
then apply the events of its aggregate that were parked behind it, in order.

A dead-lettered event keeps its place in its aggregate's history (its version is not
spent): every later event of that aggregate in that projection waits in the parked rows
behind it, while other aggregates go on. Releasing runs in one transaction that first
locks the letter's position row, as the live projector's batches do, so a batch of the
same partition waits for the release and then finds the aggregate's new version. A
replay that fails again leaves the letter where it was, with the new error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from contracts.bookkeeping import PARKED_TABLE
from contracts.envelope import Envelope
from contracts.upcasting import knows
from projections.live import positions
from projections.live.aggregate_versions import DEAD_LETTER, NEEDS_UPGRADE, AggregateVersions
from projections.live.event_rules import Batch, EventRules
from projections.projection import Projection
from projections.records import BatchOutcome, HandlerFailedError, Incoming, PositionMove

REPLAY, DISCARD = "replay", "discard"


class NoSuchLetterError(LookupError):
    """No dead letter of that projection has that notification id (released already?)."""


@dataclass(frozen=True)
class Released:
    notification_id: int
    action: str
    #: The letter itself applied (replay) or skipped (discard); False: it failed again.
    released: bool
    #: Events that waited behind it and are applied now.
    followers: int
    error: str = ""


_LETTER = """
SELECT aggregate_id, version, event_type, schema_version, payload, topic, partition,
       kafka_offset
FROM {} WHERE projection = %s AND notification_id = %s AND reason = %s FOR UPDATE
"""


class DeadLetterRelease:
    """The live applier's rules, applied to one letter and the events behind it."""

    def __init__(self, projection: Projection, schema: str) -> None:
        self.projection = projection
        self.schema = schema
        self.rules = EventRules(projection, schema)

    def release(
        self,
        conn: psycopg.Connection[Any],
        notification_id: int,
        action: str,
        reason: str = DEAD_LETTER,
    ) -> Released:
        """``reason``: what kind of parked event to release (a dead letter, or one that
        needed a newer release: this one may read it)."""
        try:
            return self._release(conn, notification_id, action, reason)
        except HandlerFailedError as error:  # a failure that might pass: nothing changed
            return Released(notification_id, action, False, 0, str(error.__cause__ or error))

    def _release(
        self, conn: psycopg.Connection[Any], notification_id: int, action: str, reason: str
    ) -> Released:
        with conn.transaction(), conn.cursor() as cur:
            letter, record = self._letter(cur, notification_id, reason)
            key = (self.projection.name, record.topic, record.partition)
            position = positions.lock(cur, self.schema, [key])[key]
            versions = AggregateVersions(cur, self.schema, self.projection.name)
            batch = Batch(conn, cur, versions, BatchOutcome(), careful=True)
            versions.remove(letter)
            if versions.last(letter.aggregate_id) >= letter.aggregate_version:
                # Applied since it was parked: an instance of another release met the
                # record again, in order. The row was stale; replaying it would apply it
                # twice and move the aggregate's version back.
                return Released(notification_id, action, True, 0)
            if action == DISCARD:
                versions.advance(letter.aggregate_id, letter.aggregate_version)
                following = versions.take_next(letter)
                if following is not None:
                    self.rules.handle_in_order(batch, *following, position)
            else:
                self.rules.handle_in_order(batch, letter, record, position)
            again: list[BaseException | str] = [
                d.error for d in batch.outcome.dead_letters if d.notification_id == notification_id
            ]
            if reason == NEEDS_UPGRADE and self._still_parked(cur, letter):
                again.append("still a schema version this release cannot read")
            position.dead_lettered -= len(again)  # the same letter, not a new one
            versions.flush()
            positions.save(cur, self.schema, [PositionMove(*key, position)])
        if again:
            error = again[0]
            return Released(notification_id, action, False, 0, repr(error))
        followers = position.applied + position.skipped - (1 if action == REPLAY else 0)
        return Released(notification_id, action, True, followers)

    def _still_parked(self, cur: psycopg.Cursor[Any], letter: Envelope) -> bool:
        return (
            cur.execute(
                sql.SQL(
                    "SELECT 1 FROM {} WHERE projection = %s AND aggregate_id = %s AND version = %s"
                ).format(sql.Identifier(self.schema, PARKED_TABLE)),
                (self.projection.name, letter.aggregate_id, letter.aggregate_version),
            ).fetchone()
            is not None
        )

    def _letter(
        self, cur: psycopg.Cursor[Any], notification_id: int, reason: str
    ) -> tuple[Envelope, Incoming]:
        row = cur.execute(
            sql.SQL(_LETTER).format(sql.Identifier(self.schema, PARKED_TABLE)),
            (self.projection.name, notification_id, reason),
        ).fetchone()
        if row is None:
            raise NoSuchLetterError(f"{self.projection.name}: no dead letter {notification_id}")
        aggregate_id, version, event_type, schema_version, payload, topic, partition, offset = row
        letter = Envelope(
            notification_id=notification_id,
            aggregate_id=UUID(str(aggregate_id)),
            aggregate_version=int(version),
            event_type=event_type,
            schema_version=int(schema_version),
            payload=bytes(payload),
            relay_epoch=0,
        )
        return letter, Incoming(topic, partition, offset, [], letter.payload)


def upgrade_parked(conn: psycopg.Connection[Any], projection: Projection, schema: str) -> int:
    """Apply the events parked for a newer release that this release can read (and what
    waited behind them); run when a projector starts. Returns how many were released."""
    rows = conn.execute(
        sql.SQL(
            "SELECT notification_id, event_type, schema_version FROM {}"
            " WHERE projection = %s AND reason = %s ORDER BY notification_id"
        ).format(sql.Identifier(schema, PARKED_TABLE)),
        (projection.name, NEEDS_UPGRADE),
    ).fetchall()
    conn.commit()
    release = DeadLetterRelease(projection, schema)
    done = 0
    for notification_id, event_type, schema_version in rows:
        if knows(event_type, schema_version):
            try:
                done += release.release(conn, notification_id, REPLAY, NEEDS_UPGRADE).released
            except NoSuchLetterError:
                continue  # another instance of this release applied it first
    return done
