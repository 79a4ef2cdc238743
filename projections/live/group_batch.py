"""One batch of a processing group, in one transaction, committed once.

What the members read first is read for all of them at once (:mod:`projections.live.opening`);
each member applies its records; one statement then moves every member's aggregate versions
and positions and tells the query API's watchers (``NOTIFY``, delivered at the commit).

The fast path gives the members no savepoint of their own: a batch's statements are the
read models' and the bookkeeping's, nothing more, sent in one pipeline (every member's
statements and the closing writes reach PostgreSQL without waiting for answers, and the
batch waits once, at the pipeline's end). If a handler or a statement fails, the transaction
rolls back whole and the batch is applied again with a savepoint per member (psycopg nests
``conn.transaction()``): there a failing member rolls back alone, and its applier redoes its
records carefully, a savepoint per event, retrying or dead-lettering only the failing ones.
A batch holding an undecodable record takes the savepoint path at once: its dead letter is
sent to the broker before the commit, and a rolled-back attempt must not have sent it.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from contracts.bookkeeping import POSITIONS_CHANNEL
from contracts.faults import crash_point
from contracts.upcasting import UndecodableEventError
from projections.live import aggregate_versions, positions
from projections.live.dead_letter_sender import DeadLetterNotConfirmedError
from projections.live.member import Member
from projections.live.opening import Decoded, Opening, RecordKey, decode_all, open_batch
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
    with conn.transaction():
        shares = [(m, mine) for m in members if (mine := m.mine(records))]
        with conn.cursor() as cur:
            opening = open_batch(cur, schema, [m.applier.share(r) for m, r in shares], decoded)
        with _one_pipeline(conn, fast=not savepoints):
            moves, versions = _apply_members(
                conn,
                shares,
                marks,
                opening,
                outcome=outcome,
                applied=applied,
                savepoints=savepoints,
            )
            if applied:
                with conn.cursor() as cur:
                    _close(cur, schema, versions, moves)
    for member, done, seconds in applied:
        member.count(done, seconds)
    return outcome


def _close(
    cur: psycopg.Cursor[Any], schema: str, versions: list[Versioned], moves: list[PositionMove]
) -> None:
    """The batch's bookkeeping, one statement: every member's aggregate versions and
    positions, and the news that positions moved (the query API's watchers read them once
    this commits)."""
    cur.execute(
        _closing(schema),
        (aggregate_versions.written(versions), positions.moved(moves), POSITIONS_CHANNEL, schema),
    )


@functools.lru_cache(maxsize=64)
def _closing(schema: str) -> sql.Composed:
    """:func:`_close`'s statement, built once per schema (20 µs a batch otherwise)."""
    return sql.SQL("WITH versions AS ({}), positions AS ({}) SELECT pg_notify(%s, %s)").format(
        aggregate_versions.upsert(schema), positions.update(schema)
    )


@contextmanager
def _one_pipeline(conn: psycopg.Connection[Any], *, fast: bool) -> Iterator[None]:
    """The fast path's one pipeline: a statement's error surfaces at its end (or at a read
    before it), and the batch is then redone with a savepoint per member."""
    if not fast:
        yield
        return
    try:
        with conn.pipeline():
            yield
    except psycopg.Error as error:
        if conn.broken:
            raise  # the connection, not an event: the whole batch is retried
        raise RetryCarefullyError from error


def _apply_members(
    conn: psycopg.Connection[Any],
    shares: list[tuple[Member, list[Incoming]]],
    marks: dict[tuple[str, int], int],
    opening: Opening,
    *,
    outcome: GroupOutcome,
    applied: list[tuple[Member, BatchOutcome, float]],
    savepoints: bool,
) -> tuple[list[PositionMove], list[Versioned]]:
    """Each member's records (in a savepoint of its own on the careful path); what they
    moved, for the group to write in one statement each."""
    moves: list[PositionMove] = []
    versions: list[Versioned] = []
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
    return moves, versions
