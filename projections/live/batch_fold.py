"""A large live batch of a row-local projection: folded in memory, each row written once.

The live path runs one statement per event (:mod:`projections.handlers` of each read
model), sent in pipeline mode. Catching up on a backlog, that is thousands of UPDATEs of
the same few rows: ten thousand stock changes over a hundred products kept PostgreSQL busy
for most of the projector's time (docs/operations.md, "Throughput"). A projection whose
every event changes at most its own aggregate's row, in its one table keyed by the
aggregate id (``Projection.row_local``), can instead load the batch's rows, apply the
folds the rebuild uses (same meaning as the handlers: tests/integration/test_bulk_fold.py)
and write each changed row once — in the same transaction as the versions and positions,
so nothing else about the batch changes. Small batches (the steady state: a few events)
keep the statements, which are cheaper than the load and the write-back there.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from contracts.envelope import Envelope
from projections.memory_rows import Rows, Table
from projections.projection import Projection

#: Batches of at least this many records are folded (when the projection is row-local).
FOLD_FROM_RECORDS = 64


class BatchRows:
    """The rows a batch touches, folded in memory; :meth:`write` stores the changed ones."""

    def __init__(self, projection: Projection, schema: str) -> None:
        (self.table_name,) = projection.tables
        self.projection = projection
        self.schema = schema
        self._shape: tuple[tuple[str, ...], tuple[str, ...]] | None = None
        self.rows = Rows({})

    def load(self, conn: psycopg.Connection[Any], aggregate_ids: set[UUID]) -> None:
        """Read the current rows of ``aggregate_ids`` (inside the batch's transaction)."""
        columns, key = self._table_shape(conn)
        table = Table(self.table_name, columns, key)
        statement = sql.SQL("SELECT {} FROM {} WHERE {} = ANY(%s)").format(
            sql.SQL(", ").join(map(sql.Identifier, columns)),
            sql.Identifier(self.schema, self.table_name),
            sql.Identifier(key[0]),
        )
        for values in conn.execute(statement, (list(aggregate_ids),)):
            row = dict(zip(columns, values, strict=True))
            table.rows[table.key_of(row)] = row
        self.rows = Rows({self.table_name: table})

    def fold(self, envelope: Envelope, event: Any) -> None:
        fold = self.projection.fold_for(envelope.event_type)
        assert fold is not None, "a read model has a fold for every handled type"
        fold(self.rows, envelope, event)

    def write(self, cur: psycopg.Cursor[Any]) -> int:
        """Upsert every row the folds inserted or changed; how many."""
        table = self.rows.tables[self.table_name]
        if not table.dirty:
            return 0
        (key,) = table.key
        changed = [c for c in table.columns if c != key]
        cur.executemany(
            sql.SQL(
                "INSERT INTO {table} ({columns}) VALUES ({values})"
                " ON CONFLICT ({key}) DO UPDATE SET {assignments}"
            ).format(
                table=sql.Identifier(self.schema, self.table_name),
                columns=sql.SQL(", ").join(map(sql.Identifier, table.columns)),
                values=sql.SQL(", ").join(sql.Placeholder() * len(table.columns)),
                key=sql.Identifier(key),
                assignments=sql.SQL(", ").join(
                    sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in changed
                ),
            ),
            [[table.rows[k][c] for c in table.columns] for k in table.dirty],
        )
        written = len(table.dirty)
        table.dirty = set()
        return written

    def _table_shape(
        self, conn: psycopg.Connection[Any]
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The table's stored (not generated) columns and its one-column primary key; read
        once (a new table version is a new applier: the version check stops this one)."""
        if self._shape is None:
            columns, _, key = table_shape(conn, self.schema, self.table_name)
            if len(key) != 1:
                raise ValueError(f"{self.table_name}: a row-local table has a one-column key")
            self._shape = (columns, key)
        return self._shape


def table_shape(
    conn: psycopg.Connection[Any], schema: str, table: str
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """The table's stored (not generated) columns, their types, and its primary key."""
    relation = sql.Identifier(schema, table).as_string(conn)
    columns = conn.execute(
        "SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid"
        " WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped"
        " AND a.attgenerated = '' ORDER BY a.attnum",
        (relation,),
    ).fetchall()
    key = conn.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
        " AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary"
        " ORDER BY array_position(i.indkey::int2[], a.attnum)",
        (relation,),
    ).fetchall()
    if not key:
        raise RuntimeError(f"{relation} has no primary key: its rows cannot be written in bulk")
    # psycopg names an array type by its element: "_text" is "text[]".
    types = tuple(f"{t[1:]}[]" if t.startswith("_") else t for _, t in columns)
    return tuple(r[0] for r in columns), types, tuple(r[0] for r in key)
