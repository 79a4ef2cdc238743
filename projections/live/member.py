"""One projection in a processing group: what it owns of the group's consumer.

A group's one consumer reads each topic once and hands every member the records of its
own topics (:mod:`projections.live.consumer`). Each member keeps what a projector of its
own kept: positions, aggregate versions, parking and dead letters (its applier), its
heartbeat row, its counts — and its own wait for a rebuild, which holds back nobody else.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import psycopg

from contracts.topics import topic_name
from projections.live.applier import Applier, BatchOutcome, TableVersionMismatchError
from projections.live.dead_letter_sender import DeadLetterSender
from projections.live.heartbeat import Heartbeat
from projections.live.opening import Opening
from projections.live.release import upgrade_parked
from projections.projection import Projection
from projections.records import Counts, Incoming

log = logging.getLogger(__name__)
#: How often a member looks for parked events an older release could not read.
UPGRADE_CHECK_SECONDS = 5.0


@dataclass
class ProjectorStats(Counts):
    """A projection's counts since its process started (its metrics), and its batches."""

    batches: int = 0
    #: Seconds spent applying batches (with ``batches``: the mean batch latency).
    batch_seconds: float = 0.0


class Member:
    def __init__(
        self, projection: Projection, schema: str, bootstrap_servers: str, topic_prefix: str
    ) -> None:
        self.projection = projection
        self.topics = frozenset(topic_name(c, topic_prefix) for c in projection.contexts)
        self.applier = Applier(projection, schema, check_table_version=projection.read_model)
        self.heartbeat = Heartbeat(schema, projection.name)
        self.letters = DeadLetterSender(projection.name, bootstrap_servers)
        self.stats = ProjectorStats()
        #: Set while the live tables are at another table version than this code writes.
        self.waiting_for_rebuild: str | None = None
        #: While waiting: the first offset of each partition it let pass unapplied. The
        #: group commits no offset beyond these and reads them again once the rebuild is in.
        self.skipped: dict[tuple[str, int], int] = {}
        self._last_mismatch_log = -1e9
        self._upgrade_checked = -1e9

    @property
    def name(self) -> str:
        return self.projection.name

    def mine(self, records: list[Incoming]) -> list[Incoming]:
        return [r for r in records if r.topic in self.topics]

    def apply(
        self,
        conn: psycopg.Connection[Any],
        records: list[Incoming],
        high_watermarks: dict[tuple[str, int], int],
        opening: Opening,
        *,
        savepoint: bool = True,
    ) -> BatchOutcome | None:
        """Apply this member's records in the group's transaction (in a savepoint of its
        own, unless ``savepoint`` is false), from what the group's ``opening`` read; None
        when it waits for a rebuild (the records are noted as skipped). Raises what the
        applier raises otherwise. Its position moves are in the outcome: the group writes
        them, with the other members', after the last (projections/live/group_batch.py)."""
        try:
            outcome = self.applier.apply(
                conn,
                records,
                before_commit=self.letters.send_all,
                high_watermarks=high_watermarks,
                opening=opening,
                savepoint=savepoint,
            )
        except TableVersionMismatchError as error:
            self._waiting(str(error), records)
            return None
        self.waiting_for_rebuild = None
        return outcome

    def count(self, outcome: BatchOutcome, seconds: float) -> None:
        """A batch of this member committed: into its counts (its metrics)."""
        self.stats.batches += 1
        self.stats.add(outcome)
        self.stats.batch_seconds += seconds

    def _waiting(self, reason: str, records: list[Incoming]) -> None:
        now, self.waiting_for_rebuild = time.monotonic(), reason
        if now - self._last_mismatch_log > 30:
            log.warning("projector %s: %s", self.name, reason)
            self._last_mismatch_log = now
        for record in records:
            key = (record.topic, record.partition)
            self.skipped[key] = min(self.skipped.get(key, record.offset), record.offset)

    def rebuilt(self, conn: psycopg.Connection[Any]) -> bool:
        """True once a member that let records pass finds its table version installed: the
        group then reads the skipped records again (and this batch is not applied to it)."""
        return bool(self.skipped) and self.applier.tables_ready(conn)

    def upgrade_parked_when_due(self, conn: psycopg.Connection[Any], *, now: bool = False) -> None:
        """Apply what an instance of an older release parked as "needs upgrade" and this
        release reads. At start, and every few seconds: in a rolling deploy the old
        instances go on parking after this one started, and the events they parked are
        behind the committed offsets, so no record will bring them back."""
        if not now and time.monotonic() - self._upgrade_checked < UPGRADE_CHECK_SECONDS:
            return
        self._upgrade_checked = time.monotonic()
        upgraded = upgrade_parked(conn, self.projection, self.applier.schema)
        if upgraded:
            log.info(
                "projector %s: %d event(s) an older release parked applied now",
                self.name,
                upgraded,
            )
