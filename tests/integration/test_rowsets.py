"""Rows sent as one JSON parameter come back from ``jsonb_to_recordset`` as they left
(projections/live/rowsets.py): the bookkeeping's UUIDs, instants, large counters, missing
values and any text a projection or topic name could hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from uuid import uuid4

import psycopg

from projections.live.rowsets import rowset, values

NAMES = ("name", "aggregate_id", "at", "n", "note")


def test_rows_round_trip_with_their_types(database_url: str) -> None:
    rows = [
        ("orders", uuid4(), datetime(2026, 12, 7, 22, 1, 2, 345678, tzinfo=UTC), 2**62, None),
        (
            'quote " and \\ backslash, {brace}, comma',
            uuid4(),
            datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=timezone(timedelta(hours=-5))),
            -1,
            "ünïcode ✓ and a\nnewline",
        ),
        ("", uuid4(), None, 0, ""),
    ]
    with psycopg.connect(database_url) as conn:
        back = conn.execute(
            "SELECT * FROM jsonb_to_recordset(%s::jsonb)"
            " AS v(name text, aggregate_id uuid, at timestamptz, n bigint, note text)",
            (rowset(rows, NAMES),),
        ).fetchall()
    assert back == rows  # instants compare as instants, whatever their offset


def test_values_keep_an_index_friendly_any(database_url: str) -> None:
    ids = [uuid4(), uuid4()]
    with psycopg.connect(database_url) as conn:
        found = conn.execute(
            "SELECT a FROM unnest(%s::uuid[]) a"
            " WHERE a = ANY(ARRAY(SELECT jsonb_array_elements_text(%s::jsonb)::uuid))",
            ([*ids, uuid4()], values(ids)),
        ).fetchall()
    assert [a for (a,) in found] == ids
