"""A projection's tables held in memory while a rebuild folds events into them.

A table in memory may hold all of its rows (``complete``: a fresh rebuild, a live batch)
or only some (a rebuild bounded in memory: :mod:`projections.rebuild.row_cache` drops
written rows and reads them back when an event needs them). Folds see no difference: they
ask :class:`Rows` for a row by key, and a row that is not in memory is read through
``Table.load`` unless the table is known to hold all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from contracts.envelope import Envelope

Key = tuple[Any, ...]
Row = dict[str, Any]


class Table:
    """One read-model table in memory: rows by primary key, and what changed since the
    last flush."""

    def __init__(
        self,
        name: str,
        columns: tuple[str, ...],
        key: tuple[str, ...],
        types: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.columns = columns  # what COPY writes: generated columns are computed by PostgreSQL
        self.key = key
        self.types = types  # the columns' PostgreSQL type names, for binary COPY
        self.rows: dict[Key, Row] = {}
        self.dirty: set[Key] = set()
        self.stored: set[Key] = set()  # keys in memory that also have a row in the database
        #: True while ``rows`` holds every row the table has; otherwise a miss is looked up.
        self.complete = True
        #: Keys looked up and not found since the last flush.
        self.absent: set[Key] = set()
        #: Reads the given keys from the database into ``rows`` (found) or ``absent``.
        self.load: Callable[[Table, Iterable[Key]], None] | None = None

    def key_of(self, row: Row) -> Key:
        return tuple(row[c] for c in self.key)

    def get(self, key: Key) -> Row | None:
        row = self.rows.get(key)
        if row is None and not self.complete and key not in self.absent:
            assert self.load is not None, "an incomplete table reads its misses"
            self.load(self, (key,))
            row = self.rows.get(key)
        return row

    def found(self, row: Row) -> None:
        """A row read from the database."""
        key = self.key_of(row)
        if key not in self.rows:  # never over a row changed in memory
            self.rows[key] = row
            self.stored.add(key)


class Rows:
    """What a fold function reads and writes: the projection's tables, by name."""

    def __init__(self, tables: dict[str, Table]) -> None:
        self.tables = tables

    def find(self, table: str, *key: Any) -> Row | None:
        """The row, to read only."""
        return self.tables[table].get(key)

    def edit(self, table: str, *key: Any) -> Row | None:
        """The row, to change in place (it is written at the next flush)."""
        t = self.tables[table]
        row = t.get(key)
        if row is not None:
            t.dirty.add(key)
        return row

    def insert(self, table: str, row: Row) -> bool:
        """Add ``row`` unless its key is taken (``ON CONFLICT DO NOTHING``)."""
        t = self.tables[table]
        key = t.key_of(row)
        if t.get(key) is not None:
            return False
        t.rows[key] = row
        t.absent.discard(key)
        t.dirty.add(key)
        return True


Fold = Callable[[Rows, Envelope, Any], None]
"""``fold(rows, envelope, event)`` changes the in-memory rows as the SQL handler would."""
