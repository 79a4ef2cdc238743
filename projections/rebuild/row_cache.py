"""A rebuild in bounded memory: written rows leave memory, and come back in one read per
table and batch when the batch's events need them.

A rebuild folds events into rows in memory (:mod:`projections.rebuild.bulk`). Holding the
whole read model made its memory grow with history: 2.4 GB for the orders of a store of
8 M events. So after a flush, once the tables hold more than ``cached_rows`` rows, the
oldest written rows are dropped (down to half, so this is not paid every batch) and the
tables are marked incomplete. From then on each batch is first folded *dry*, on copies and
without writing anything, only to learn which keys its folds ask for; those keys are read
in one ``SELECT … WHERE key = ANY(…)`` per table, twice more if the rows read lead the folds
to further keys (an order's customer). A key the dry folds did not predict is still read,
one by one, when the real fold asks (``Table.get``). The aggregates' versions are bounded
the same way.

Rows written by the rebuild are the only rows in its shadow tables, so what is read back
is exactly what was dropped: the folds' results do not depend on the cache
(tests/integration/test_bulk_fold.py folds with a cache of a few rows).
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from itertools import islice
from typing import Any

import psycopg
from psycopg import sql

from contracts.envelope import Envelope
from contracts.upcasting import decode
from projections.memory_rows import Key, Row, Rows, Table
from projections.projection import Projection

#: Rows held in memory by one rebuild, across its projection's tables.
CACHED_ROWS = 200_000
DRY_ROUNDS = 3


@contextmanager
def young_collections() -> Iterator[None]:
    """Only young objects are collected while a rebuild folds: the rows held in memory do
    not form cycles, and the collector's full passes over them (hundreds of thousands of
    dicts) cost a third of a rebuild's time. Call :func:`collect_young` after each batch."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def collect_young() -> None:
    """The batch's garbage; what survives (the cache) is not looked at again."""
    gc.collect(1)


def with_keys(
    table: Table, keys: Sequence[Key]
) -> tuple[sql.Composable | None, sql.Composable, list[Any]]:
    """``(from item or None, condition, params)`` picking the rows of ``table`` (as ``t``)
    whose key is one of ``keys``: ``t.k = ANY(…)`` for a one-column key, else a join with
    the keys ``unnest``ed column by column."""
    if len(table.key) == 1:
        match = sql.SQL("t.{} = ANY(%s)").format(sql.Identifier(table.key[0]))
        return None, match, [[k[0] for k in keys]]
    names = [sql.Identifier(f"k{n}") for n in range(len(table.key))]
    unnested = sql.SQL("unnest({}) AS k({})").format(
        sql.SQL(", ").join(sql.Placeholder() * len(table.key)), sql.SQL(", ").join(names)
    )
    match = sql.SQL(" AND ").join(
        sql.SQL("t.{} = k.{}").format(sql.Identifier(c), n)
        for c, n in zip(table.key, names, strict=True)
    )
    return unnested, match, [list(column) for column in zip(*keys, strict=True)]


class RowReader:
    """Reads rows of one schema's tables by key (``Table.load``)."""

    def __init__(self, conn: psycopg.Connection[Any] | None, schema: str) -> None:
        self.conn = conn  # None: the tables are complete (built in memory only, never evicted)
        self.schema = schema
        self.reads = 0  # statements sent: one per table and batch when the dry folds hit

    def __call__(self, table: Table, keys: Iterable[Key]) -> None:
        wanted = [k for k in keys if k not in table.rows and k not in table.absent]
        if not wanted:
            return
        assert self.conn is not None, "rows left memory, so there is a database to read"
        self.reads += 1
        columns = sql.SQL(", ").join(
            sql.SQL("t.{}").format(sql.Identifier(c)) for c in table.columns
        )
        unnested, match, params = with_keys(table, wanted)
        statement = sql.SQL("SELECT {} FROM {} t{} WHERE {}").format(
            columns,
            sql.Identifier(self.schema, table.name),
            sql.SQL(", {}").format(unnested) if unnested else sql.SQL(""),
            match,
        )
        for values in self.conn.execute(statement, params):
            table.found(dict(zip(table.columns, values, strict=True)))
        table.absent.update(k for k in wanted if k not in table.rows)


class KeyRecorder(Rows):
    """Rows for a dry fold: answers from memory, on copies, and notes every key that is
    not there and might be in the database."""

    def __init__(self, tables: dict[str, Table]) -> None:
        super().__init__(tables)
        self.wanted: dict[str, set[Key]] = {name: set() for name in tables}
        self.missed = False  # the current fold asked for a key not in memory

    def _peek(self, table: str, key: Key) -> Row | None:
        t = self.tables[table]
        row = t.rows.get(key)
        if row is None and not t.complete and key not in t.absent:
            self.wanted[table].add(key)
            self.missed = True
        return None if row is None else dict(row)

    def find(self, table: str, *key: Any) -> Row | None:
        return self._peek(table, key)

    def edit(self, table: str, *key: Any) -> Row | None:
        return self._peek(table, key)

    def insert(self, table: str, row: Row) -> bool:
        return self._peek(table, self.tables[table].key_of(row)) is None


def prefetch(
    projection: Projection,
    tables: dict[str, Table],
    reader: RowReader,
    events: Sequence[tuple[Envelope, Any]],
) -> None:
    """Read the rows ``events``' folds will ask for that are not in memory. A dry fold that
    found everything it asked for would ask for the same again: only the others run again,
    once the rows they asked for are read."""
    pending = events
    for _ in range(DRY_ROUNDS):
        recorder = KeyRecorder(tables)
        missed = []
        for envelope, event in pending:
            fold = projection.fold_for(envelope.event_type)
            if fold is None:
                continue
            recorder.missed = False
            with suppress(Exception):  # a dry fold on partial rows: the real one decides
                fold(recorder, envelope, event)
            if recorder.missed:
                missed.append((envelope, event))
        for name, keys in recorder.wanted.items():
            if keys:
                reader(tables[name], keys)
        if not missed:
            return
        pending = missed


def decoded(envelope: Envelope) -> Any:
    """The event for a dry fold, or None when this release cannot read it."""
    try:
        return decode(envelope.event_type, envelope.schema_version, envelope.payload)
    except Exception:  # the real fold parks it
        return None


def evict(tables: Iterable[Table], cached_rows: int) -> int:
    """After a flush: drop the oldest written rows once there are more than ``cached_rows``,
    down to half of it; how many were dropped."""
    tables = list(tables)
    held = sum(len(t.rows) for t in tables)
    if held <= cached_rows:
        for t in tables:
            t.absent.clear()
        return 0
    dropped = 0
    for t in tables:
        assert not t.dirty, "only written rows leave memory"
        keep = len(t.rows) * (cached_rows // 2) // held
        gone = list(islice(t.rows, len(t.rows) - keep))
        for key in gone:
            del t.rows[key]
            t.stored.discard(key)
        dropped += len(gone)
        t.complete = False
        t.absent.clear()
    return dropped


class Versions:
    """The aggregates' versions a rebuild has applied, bounded like the rows."""

    def __init__(
        self, conn: psycopg.Connection[Any] | None, schema: str, table: str, name: str
    ) -> None:
        self.conn = conn
        self.statement = sql.SQL(
            "SELECT aggregate_id, version FROM {} WHERE projection = %s AND aggregate_id = ANY(%s)"
        ).format(sql.Identifier(schema, table))
        self.name = name
        self.known: dict[Any, int] = {}  # aggregate id -> version (0: none stored)
        self.stored: set[Any] = set()  # ids in ``known`` with a row in the versions table
        self.complete = True

    def prefetch(self, aggregate_ids: Iterable[Any]) -> None:
        if self.complete:
            return
        wanted = list({a for a in aggregate_ids if a not in self.known})
        if not wanted:
            return
        assert self.conn is not None, "versions left memory, so there is a database to read"
        for aggregate_id, version in self.conn.execute(self.statement, (self.name, wanted)):
            self.known[aggregate_id] = version
            self.stored.add(aggregate_id)
        for aggregate_id in wanted:
            self.known.setdefault(aggregate_id, 0)

    def get(self, aggregate_id: Any) -> int:
        if aggregate_id not in self.known:
            self.prefetch((aggregate_id,))
        return self.known.get(aggregate_id, 0)

    def evict(self, cached: int) -> None:
        if len(self.known) <= cached:
            return
        for aggregate_id in list(islice(self.known, len(self.known) - cached // 2)):
            del self.known[aggregate_id]
            self.stored.discard(aggregate_id)
        self.complete = False
