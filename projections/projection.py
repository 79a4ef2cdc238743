"""What a projection is: a name, its tables, and one handler and one fold per event type.

Each read model is a package, ``projections/<name>/``: ``tables.py`` (names and DDL),
``handlers.py`` (SQL, the live path), ``folds.py`` (in-memory rows, rebuilds) and, in its
``__init__``, the one declaration that ties them to their event types.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from psycopg import Cursor

from contracts.envelope import Envelope
from contracts.events import ContractEvent
from contracts.readmodels import SOURCES
from projections.memory_rows import Fold

Handler = Callable[[Cursor[Any], str, Envelope, Any], None]
"""``handler(cursor, schema, envelope, event)`` writes the event's effect on the rows."""


@dataclass(frozen=True)
class Projection:
    name: str
    handlers: dict[type[ContractEvent], Handler]
    #: The same effects on in-memory rows, for rebuilds (:mod:`projections.bulk`); one
    #: per handler.
    folds: dict[type[ContractEvent], Fold] = field(default_factory=dict)
    #: The read-model tables this projection alone writes (what a rebuild replaces).
    tables: tuple[str, ...] = ()
    #: Their DDL at the table version ``contracts.readmodels.TABLE_VERSIONS`` names.
    ddl: tuple[str, ...] = ()

    @property
    def contexts(self) -> tuple[str, ...]:
        return SOURCES[self.name]

    def __post_init__(self) -> None:
        # Looked up once per event on the hot path: index by the published type name.
        by_name = {cls.type_name: handler for cls, handler in self.handlers.items()}
        object.__setattr__(self, "_by_name", by_name)
        if set(self.folds) != set(self.handlers):
            raise ValueError(f"{self.name}: every handled event type needs a fold, and no other")
        folds = {cls.type_name: fold for cls, fold in self.folds.items()}
        object.__setattr__(self, "_folds", folds)

    def handler_for(self, event_type: str) -> Handler | None:
        by_name: dict[str, Handler] = self.__dict__["_by_name"]
        return by_name.get(event_type)

    def fold_for(self, event_type: str) -> Fold | None:
        folds: dict[str, Fold] = self.__dict__["_folds"]
        return folds.get(event_type)
