"""Blue/green rebuild of one projection from the event store.

1. Build a shadow copy of the projection's tables (and of its version and parked rows) in
   ``<read schema>__rb_<name>`` by reading the event store with ``contracts`` alone, in
   batches; each batch and the rebuild's own checkpoint commit together, so a killed
   rebuild resumes where it stopped. An advisory lock keeps a second rebuild out.
2. At the head, one transaction locks the live tables (live queries and the live projector
   wait, briefly), applies whatever arrived meanwhile, moves the live tables aside and the
   shadow ones in, and copies the shadow's version rows over. Until then every query is
   served from the old copy.
3. The live projector carries on with the new tables: everything the shadow already holds
   is a duplicate by aggregate version, so nothing is applied twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from contracts.bookkeeping import (
    MODEL_VERSIONS_TABLE,
    PARKED_TABLE,
    POSITIONS_TABLE,
    VERSIONS_TABLE,
    rebuild_lock,
)
from contracts.faults import crash_point
from contracts.readmodels import TABLE_VERSIONS
from projections.live.applier import Applier, BatchOutcome
from projections.personal_keys import KeyReader
from projections.projection import Projection
from projections.rebuild.bulk import BulkBuild, FoldOutcome
from projections.rebuild.row_cache import CACHED_ROWS, collect_young, young_collections
from projections.rebuild.store_reader import Cutoff, StoreReader
from projections.rebuild.swap import swap_in
from projections.schema import create_model_indexes, create_model_tables

log = logging.getLogger(__name__)
BOOKKEEPING = (POSITIONS_TABLE, VERSIONS_TABLE, PARKED_TABLE)
#: Events folded between flushes: a flush writes each row the batch changed once, and a
#: large catalog has thousands of rows touched in any batch (measured at 2.4 M events:
#: 10,000 → 50,000 took a rebuild --all from 100 s to 83 s; the secondary indexes deferred
#: to the end, products from 24 s to 18 s).
BATCH_EVENTS = 50_000
Progress = Callable[[int, int], None]
"""``progress(done, total)`` after every batch."""


class RebuildRunningError(RuntimeError):
    """Another rebuild of the same projection holds the lock."""


@dataclass(frozen=True)
class RebuildResult:
    projection: str
    events: int  # applied by this run (a resumed run does not count earlier ones)
    resumed_from: int  # the notification id this run started after
    seconds: float
    #: Events the projection's code could not apply (notification id, error): the rebuilt
    #: model lacks them, as the live one did when it dead-lettered them.
    failed: tuple[tuple[int | None, str], ...] = ()


class Rebuilder:
    def __init__(
        self,
        projection: Projection,
        *,
        database_url: str,
        read_schema: str,
        event_schema: str,
        events_table: str,
        query_role: str,
        topic_prefix: str = "",
        batch_size: int = BATCH_EVENTS,
        cached_rows: int = CACHED_ROWS,
    ) -> None:
        self.projection = projection
        self.database_url = database_url
        self.live = read_schema
        self.shadow = f"{read_schema}__rb_{projection.name}"
        self.retired = f"{read_schema}__old_{projection.name}"
        self.query_role = query_role
        self.cached_rows = cached_rows
        self.topic_prefix = topic_prefix
        self.store = StoreReader(
            projection, sql.Identifier(event_schema, events_table), topic_prefix, batch_size
        )

    def run(self, progress: Progress | None = None, grace_seconds: float = 0.0) -> RebuildResult:
        started = time.monotonic()
        self._failed: list[tuple[int | None, str]] = []
        with psycopg.connect(self.database_url, autocommit=True) as lock:
            key = rebuild_lock(self.live, self.projection.name)
            held = lock.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (key,)).fetchone()
            if not (held and held[0]):
                raise RebuildRunningError(f"a rebuild of {self.projection.name} is running")
            with psycopg.connect(self.database_url) as conn:
                self._set_state(conn, "rebuilding")
                resumed_from = self._prepare_shadow(conn, self.shadow)
                shown = self._shown_progress(lock, progress)
                applied = self._bulk(conn, resumed_from, shown, schema=self.shadow)
                with conn.transaction():  # the secondary indexes, built once
                    create_model_indexes(conn, self.projection.name, self.shadow)
                self._set_state(conn, "swapping")
                applied += self._swap(conn)
            if grace_seconds:
                time.sleep(grace_seconds)  # in-flight reads of the old copy finish
            lock.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.retired))
            )
        return RebuildResult(
            self.projection.name,
            applied,
            resumed_from,
            time.monotonic() - started,
            tuple(self._failed),
        )

    def _shown_progress(self, conn: psycopg.Connection[Any], progress: Progress | None) -> Progress:
        """Report to ``progress`` and record in the model's row, for the ops page."""
        update = sql.SQL(
            "UPDATE {} SET rebuild_done = %s, rebuild_total = %s WHERE projection = %s"
        ).format(sql.Identifier(self.live, MODEL_VERSIONS_TABLE))

        def shown(done: int, total: int) -> None:
            conn.execute(update, (done, total, self.projection.name))  # autocommit
            if progress is not None:
                progress(done, total)

        return shown

    # 1. the shadow

    def _prepare_shadow(self, conn: psycopg.Connection[Any], schema: str) -> int:
        """Create (or find, to resume) the shadow: the projection's tables from this code's
        DDL, at its table version; returns the notification id it has reached."""
        shadow = sql.Identifier(schema)
        wanted = TABLE_VERSIONS[self.projection.name]
        with conn.transaction():
            exists = conn.execute(
                "SELECT to_regclass(%s) IS NOT NULL",
                (sql.Identifier(schema, "rebuild_state").as_string(conn),),
            ).fetchone()
            if exists and exists[0]:
                # to_jsonb: a shadow left by a release before table versions has no such column.
                row = conn.execute(
                    sql.SQL(
                        "SELECT notification_id, (to_jsonb(s) ->> 'table_version')::int"
                        " FROM {}.rebuild_state s"
                    ).format(shadow)
                ).fetchone()
                if row and row[1] == wanted:
                    return int(row[0])
                log.warning(
                    "rebuild %s: the unfinished shadow has another table version; starting over",
                    self.projection.name,
                )
            # Nothing to resume: whatever is there (another version, a half-made schema) goes.
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(shadow))
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(shadow))
            create_model_tables(conn, self.projection.name, schema, indexes=False)
            for table in BOOKKEEPING:
                conn.execute(
                    sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(
                        sql.Identifier(schema, table), sql.Identifier(self.live, table)
                    )
                )
            conn.execute(
                sql.SQL(
                    "CREATE TABLE {}.rebuild_state (id int PRIMARY KEY CHECK (id = 1),"
                    " notification_id bigint NOT NULL, table_version int NOT NULL)"
                ).format(shadow)
            )
            conn.execute(
                sql.SQL("INSERT INTO {}.rebuild_state VALUES (1, 0, %s)").format(shadow), (wanted,)
            )
        return 0

    def _set_state(self, conn: psycopg.Connection[Any], state: str) -> None:
        """What operators see in ``projections status`` (committed at once)."""
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (projection, table_version, state) VALUES (%s, %s, %s)"
                " ON CONFLICT (projection) DO UPDATE SET state = EXCLUDED.state, updated_at = now()"
            ).format(sql.Identifier(self.live, MODEL_VERSIONS_TABLE)),
            (self.projection.name, TABLE_VERSIONS[self.projection.name], state),
        )
        conn.commit()

    def _bulk(
        self,
        conn: psycopg.Connection[Any],
        after: int,
        progress: Progress | None,
        *,
        schema: str,
        cutoff: Cutoff | None = None,
    ) -> int:
        """Fold the events after ``after`` into ``schema`` in memory
        (:mod:`projections.rebuild.bulk`); each batch's changed rows and the checkpoint
        commit together. With ``cutoff`` only the events it holds are folded: what a live
        projector had applied."""
        total = self.store.count(conn, after)
        conn.commit()
        build = BulkBuild.load(
            conn, self.projection, schema, self.topic_prefix, cached_rows=self.cached_rows
        )
        build.keys = KeyReader(self.live)  # keys are read where the live schema reads them
        conn.commit()
        done, name = 0, self.projection.name
        with young_collections():
            while True:
                rows = self.store.fetch(conn, after, cutoff)
                conn.commit()
                if not rows:
                    return done
                outcome = FoldOutcome()
                build.fold_batch(self.store.envelopes(rows, cutoff), outcome)
                conn.commit()  # after the rows read back: the batch's writes commit below
                after = int(rows[-1][0])
                with conn.transaction():
                    build.flush(conn)
                    self._save_checkpoint(conn, schema, after)
                collect_young()
                self._failed.extend(outcome.failed)
                for failed, error in outcome.failed:
                    log.warning("rebuild %s: cannot apply %s: %s", name, failed, error)
                crash_point("rebuild.after_batch")
                done += len(rows)
                if progress is not None:
                    progress(done, max(total, done))

    def _catch_up(self, conn: psycopg.Connection[Any], after: int) -> int:
        """Under the swap's lock, in its transaction: apply what arrived since the bulk
        build, through the live applier (few events; no need to load the rows)."""
        done = 0
        applier = Applier(self.projection, self.shadow)
        while True:
            records = list(self.store.read(conn, after))
            if not records:
                return done
            after = int(dict(records[-1].headers)["notification_id"])
            applier.apply(conn, records, before_commit=self._checkpoint(conn, self.shadow, after))
            done += len(records)

    def _checkpoint(self, conn: psycopg.Connection[Any], schema: str, notification_id: int) -> Any:
        def save(outcome: BatchOutcome) -> None:
            for letter in outcome.dead_letters:
                self._failed.append((letter.notification_id, repr(letter.error)))
                log.warning(
                    "rebuild %s: cannot apply %s: %s",
                    self.projection.name,
                    letter.notification_id,
                    letter.error,
                )
            self._save_checkpoint(conn, schema, notification_id)

        return save

    def _save_checkpoint(
        self, conn: psycopg.Connection[Any], schema: str, notification_id: int
    ) -> None:
        conn.execute(
            sql.SQL("UPDATE {}.rebuild_state SET notification_id = %s").format(
                sql.Identifier(schema)
            ),
            (notification_id,),
        )

    # 2. the swap

    def _swap(self, conn: psycopg.Connection[Any]) -> int:
        return swap_in(
            conn,
            self.projection,
            live=self.live,
            shadow=self.shadow,
            retired=self.retired,
            query_role=self.query_role,
            catch_up=self._catch_up,
        )
