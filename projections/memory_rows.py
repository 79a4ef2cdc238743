"""A projection's tables held in memory while a rebuild folds events into them."""

from __future__ import annotations

from collections.abc import Callable
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
        self.stored: set[Key] = set()  # keys with a row in the database table

    def key_of(self, row: Row) -> Key:
        return tuple(row[c] for c in self.key)


class Rows:
    """What a fold function reads and writes: the projection's tables, by name."""

    def __init__(self, tables: dict[str, Table]) -> None:
        self.tables = tables

    def find(self, table: str, *key: Any) -> Row | None:
        """The row, to read only."""
        return self.tables[table].rows.get(key)

    def edit(self, table: str, *key: Any) -> Row | None:
        """The row, to change in place (it is written at the next flush)."""
        t = self.tables[table]
        row = t.rows.get(key)
        if row is not None:
            t.dirty.add(key)
        return row

    def insert(self, table: str, row: Row) -> bool:
        """Add ``row`` unless its key is taken (``ON CONFLICT DO NOTHING``)."""
        t = self.tables[table]
        key = t.key_of(row)
        if key in t.rows:
            return False
        t.rows[key] = row
        t.dirty.add(key)
        return True


Fold = Callable[[Rows, Envelope, Any], None]
"""``fold(rows, envelope, event)`` changes the in-memory rows as the SQL handler would."""
