"""Many rows in one statement: each column sent as one array parameter, read back with
``unnest`` (a group's positions and aggregate versions are written this way)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """``rows`` as ``width`` columns."""
    return [[row[i] for row in rows] for i in range(width)]
