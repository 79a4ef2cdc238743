"""Many rows in one statement, sent as one JSON parameter and read back with
``jsonb_to_recordset`` (a group's positions and aggregate versions are written this way).

One text parameter costs psycopg a fraction of what one array parameter per column does:
its list dumper inspects every list for its element type on every execute, so a batch's
fourteen-column position update spent most of its client time there (docs/benchmarks.md,
"Session 26")."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson


def rowset(rows: Iterable[Sequence[Any]], names: Sequence[str]) -> str:
    """``rows`` as a JSON array of objects keyed by ``names``: the parameter of
    ``jsonb_to_recordset(%s::jsonb) AS v(<names with their types>)``. UUIDs, datetimes,
    numbers and text encode as PostgreSQL reads them back."""
    return orjson.dumps([dict(zip(names, row, strict=True)) for row in rows]).decode()


def values(items: Iterable[Any]) -> str:
    """``items`` as a JSON array: ``= ANY(ARRAY(SELECT jsonb_array_elements_text(%s::jsonb)))``
    (with a cast, as ``::uuid``) keeps an index scan on the column."""
    return orjson.dumps(list(items)).decode()
