"""The per-row rule every read model repeats: an event changes its aggregate's row only if
the row is older than the event, so an event delivered again (past the position check, in
a rewind, or in a rebuild's resume) changes nothing. One helper for SQL, one for folds."""

from __future__ import annotations

from datetime import datetime
from typing import Any, LiteralString

from psycopg import Cursor, sql

from contracts.envelope import Envelope
from projections.memory_rows import Row, Rows


def update_row(
    cur: Cursor[Any],
    schema: str,
    table: str,
    env: Envelope,
    assignments: LiteralString,
    *params: object,
    touched_at: datetime | None = None,
) -> None:
    """``UPDATE table SET assignments`` on the event's aggregate, if older than the event.

    ``assignments`` is our own SQL text, never client input; ``touched_at`` also sets
    ``updated_at``.
    """
    cur.execute(
        _update_statement(cur, schema, table, assignments, touched_at is not None),
        (
            *params,
            env.aggregate_version,
            *(() if touched_at is None else (touched_at,)),
            env.aggregate_id,
            env.aggregate_version,
        ),
    )


_statements: dict[tuple[str, str, str, bool], bytes] = {}


def _update_statement(
    cur: Cursor[Any], schema: str, table: str, assignments: LiteralString, touch: bool
) -> bytes:
    """The UPDATE's text, composed once per shape (composing it per event cost the live
    projector a tenth of its time)."""
    key = (schema, table, assignments, touch)
    if key not in _statements:
        if len(_statements) > 1024:  # schemas come and go (rebuild shadows, tests)
            _statements.clear()
        _statements[key] = (
            sql.SQL("UPDATE {}.{} SET {}, version = %s{} WHERE id = %s AND version < %s")
            .format(
                sql.Identifier(schema),
                sql.Identifier(table),
                sql.SQL(assignments),
                sql.SQL(", updated_at = %s") if touch else sql.SQL(""),
            )
            .as_bytes(cur)
        )
    return _statements[key]


def fold_row(rows: Rows, table: str, env: Envelope, **changes: object) -> Row | None:
    """The aggregate's row with ``changes`` applied, or None if absent or not older."""
    row = rows.edit(table, env.aggregate_id)
    if row is None or row["version"] >= env.aggregate_version:
        return None
    row.update(changes, version=env.aggregate_version)
    return row
