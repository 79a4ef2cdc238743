"""One batch of a processing group, in one transaction, committed once.

What the members read first is read for all of them at once (:mod:`projections.live.opening`);
each member applies its records; every member's positions move in one statement; the
commit tells the query API's watchers (``NOTIFY``).

The fast path gives the members no savepoint of their own: a batch's statements are the
read models' and the bookkeeping's, nothing more. If a handler fails, the transaction
rolls back whole and the batch is applied again with a savepoint per member (psycopg nests
``conn.transaction()``): there a failing member rolls back alone, and its applier redoes its
records carefully, a savepoint per event, retrying or dead-lettering only the failing ones.
A batch holding an undecodable record takes the savepoint path at once: its dead letter is
sent to the broker before the commit, and a rolled-back attempt must not have sent it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from contracts.bookkeeping import POSITIONS_CHANNEL
from contracts.faults import crash_point
from contracts.upcasting import UndecodableEventError
from projections.live.aggregate_versions import write as write_versions
from projections.live.dead_letter_sender import DeadLetterNotConfirmedError
from projections.live.member import Member
from projections.live.opening import Decoded, RecordKey, decode_all, open_batch
from projections.live.positions import save as save_positions
from projections.records import (
    BatchOutcome,
    HandlerFailedError,
    Incoming,
    PositionMove,
    RetryCarefullyError,
    Versioned,
)

log = logging.getLogger(__name__)


@dataclass
class GroupOutcome:
    #: A member's failure that may pass: nothing of it committed; its records stay pending.
    failed: Exception | None = None
    #: Members waiting for a rebuild (their records were let pass).
    waiting: int = 0
    #: Partitions to reread from their beginning: a newer relay epoch appeared.
    rewind: set[tuple[str, int]] = field(default_factory=set)


def apply_group(
    conn: psycopg.Connection[Any],
    schema: str,
    members: Sequence[Member],
    records: list[Incoming],
    marks: dict[tuple[str, int], int],
) -> GroupOutcome:
    args, decoded = (conn, schema, members, records, marks), decode_all(records)
    if not any(isinstance(e, UndecodableEventError) for e in decoded.values()):
        try:
            return _in_one_transaction(*args, decoded=decoded, savepoints=False)
        except RetryCarefullyError:
            pass  # rolled back whole: again, each member in a savepoint
    return _in_one_transaction(*args, decoded=decoded, savepoints=True)


def _in_one_transaction(
    conn: psycopg.Connection[Any],
    schema: str,
    members: Sequence[Member],
    records: list[Incoming],
    marks: dict[tuple[str, int], int],
    *,
    decoded: dict[RecordKey, Decoded],
    savepoints: bool,
) -> GroupOutcome:
    outcome = GroupOutcome()
    applied: list[tuple[Member, BatchOutcome, float]] = []
    moves: list[PositionMove] = []
    versions: list[Versioned] = []
    with conn.transaction():
        shares = [(m, mine) for m in members if (mine := m.mine(records))]
        with conn.cursor() as cur:
            opening = open_batch(cur, schema, [m.applier.share(r) for m, r in shares], decoded)
        for member, mine in shares:
            started = time.perf_counter()
            try:
                done = member.apply(conn, mine, marks, opening, savepoint=savepoints)
            except (HandlerFailedError, DeadLetterNotConfirmedError) as error:
                if not savepoints:  # its writes are not undone alone: all of it again
                    raise RetryCarefullyError from error
                log.warning("projector %s: %s; the records stay pending", member.name, error)
                outcome.failed = outcome.failed or error
                continue
            if done is None:
                outcome.waiting += 1
            else:
                outcome.rewind |= done.rewind
                moves += done.moves
                versions += done.versions
                applied.append((member, done, time.perf_counter() - started))
            crash_point("projector.member_applied")
        if applied:  # positions moved: the query API's watchers read them at the commit
            with conn.pipeline(), conn.cursor() as cur:
                write_versions(cur, schema, versions)
                save_positions(cur, schema, moves)
                cur.execute("SELECT pg_notify(%s, %s)", (POSITIONS_CHANNEL, schema))
    for member, done, seconds in applied:
        member.count(done, seconds)
    return outcome
