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
from contracts.upcasting import EVENTS_BY_NAME
from projections.memory_rows import Fold

Handler = Callable[[Cursor[Any], str, Envelope, Any], None]
"""``handler(cursor, schema, envelope, event)`` writes the event's effect on the rows."""
SharedRows = Callable[[Cursor[Any], str, list[Envelope]], None]
"""``lock(cursor, schema, envelopes)`` locks, in key order, the rows a batch's events will
change that events of other partitions change too."""


@dataclass(frozen=True)
class Effects:
    """A reactor intake's effect records: a table with one row per effect, whose ``key``
    column holds ``key_of(envelope, event)`` (None: the event owes no effect). What
    `projections verify` compares with a replay of the event store
    (:mod:`projections.rebuild.verify_effects`)."""

    table: str
    key_of: Callable[[Envelope, Any], str | None]
    #: The event types that may owe an effect (the others are not even decoded).
    event_types: frozenset[str] = frozenset()
    #: ``(conn, schema) -> notification id``: records owed by events at or below it may
    #: have been pruned, so verify compares above it (the table then has a
    #: ``notification_id`` column). None: records are never pruned.
    pruned_through: Callable[[Any, str], int] | None = None


@dataclass(frozen=True)
class Projection:
    name: str
    handlers: dict[type[ContractEvent], Handler]
    #: The same effects on in-memory rows, for rebuilds (:mod:`projections.rebuild.bulk`); one
    #: per handler.
    folds: dict[type[ContractEvent], Fold] = field(default_factory=dict)
    #: The read-model tables this projection alone writes (what a rebuild replaces).
    tables: tuple[str, ...] = ()
    #: Their DDL at the table version ``contracts.readmodels.TABLE_VERSIONS`` names.
    ddl: tuple[str, ...] = ()
    #: The contexts consumed, when this is not a read model of ``contracts.readmodels``
    #: (a reactor's intake: ``contracts.reactions``). Such tables are never rebuilt, so
    #: they have no folds and no table version.
    sources: tuple[str, ...] = ()
    #: Every event changes at most its own aggregate's row, in this projection's one table,
    #: keyed by the aggregate id: a large live batch may be folded in memory and each row
    #: written once (:mod:`projections.live.batch_fold`).
    row_local: bool = False
    #: A reactor intake's effect records, which `projections verify` checks.
    effects: Effects | None = None
    #: Rows that events of several partitions change (a customer's order statistics, fed
    #: by order events, which are partitioned by order): locked before a batch's handlers
    #: run, in key order, so two instances' batches never take two of them in opposite
    #: orders — a deadlock PostgreSQL breaks only after ``deadlock_timeout`` (a second).
    shared_rows: SharedRows | None = None
    #: The published types of its contexts it passes over on purpose, by name. Every
    #: published type of its contexts is handled or listed here (checked at import): an
    #: event of a type it neither handles nor ignores (a newer release's) is parked as
    #: "needs upgrade", never skipped (docs/architecture.md, "Changing an event").
    ignored: frozenset[str] = frozenset()

    @property
    def contexts(self) -> tuple[str, ...]:
        return self.sources or SOURCES[self.name]

    @property
    def read_model(self) -> bool:
        """True for a read model (rebuilt, verified, table-versioned); False for a reactor's
        intake, which only the live path writes."""
        return not self.sources

    def __post_init__(self) -> None:
        # Looked up once per event on the hot path: index by the published type name.
        by_name = {cls.type_name: handler for cls, handler in self.handlers.items()}
        object.__setattr__(self, "_by_name", by_name)
        wanted = set(self.handlers) if self.read_model else set()
        if self.row_local and (len(self.tables) != 1 or not self.read_model):
            raise ValueError(f"{self.name}: a row-local read model has exactly one table")
        if set(self.folds) != wanted:
            raise ValueError(
                f"{self.name}: a read model needs a fold for every handled event type, and no"
                " other; a reactor's intake has none"
            )
        folds = {cls.type_name: fold for cls, fold in self.folds.items()}
        object.__setattr__(self, "_folds", folds)
        published = {c.type_name for c in EVENTS_BY_NAME.values() if c.context in self.contexts}
        undecided = published - set(by_name) - self.ignored
        if undecided or set(by_name) & self.ignored:
            raise ValueError(
                f"{self.name}: every published type of {self.contexts} must be handled or"
                f" ignored on purpose, not both; undecided: {sorted(undecided)},"
                f" both: {sorted(set(by_name) & self.ignored)}"
            )

    def ignores(self, event_type: str) -> bool:
        """True for a type this projection passes over on purpose (its version is spent)."""
        return event_type in self.ignored

    def handler_for(self, event_type: str) -> Handler | None:
        by_name: dict[str, Handler] = self.__dict__["_by_name"]
        return by_name.get(event_type)

    def fold_for(self, event_type: str) -> Fold | None:
        folds: dict[str, Fold] = self.__dict__["_folds"]
        return folds.get(event_type)


def read_model(
    name: str,
    *,
    tables: tuple[str, ...],
    ddl: tuple[str, ...],
    effects: dict[type[ContractEvent], tuple[Handler, Fold]],
    ignored: frozenset[str] = frozenset(),
    row_local: bool = False,
    shared_rows: SharedRows | None = None,
) -> Projection:
    """A read model's declaration as one table of events: each event type once, with its
    handler (the live path's SQL) and its fold (the rebuild's rows in memory) side by side,
    so neither can be added, renamed or removed without the other.

    Why two forms and not one: deriving the live path from the folds (load the rows a batch
    touches, fold, write them back) ran 0.67-0.78 x the statements' speed on the batch sizes
    the live path sees (1-64 records of distinct products), and the other models would need
    their rows loaded by secondary keys first (a customer's orders, a day's sales); the
    rebuild, whose batches touch each row many times, folds (docs/architecture.md).
    """
    return Projection(
        name,
        handlers={event: handler for event, (handler, _) in effects.items()},
        folds={event: fold for event, (_, fold) in effects.items()},
        tables=tables,
        ddl=ddl,
        row_local=row_local,
        ignored=ignored,
        shared_rows=shared_rows,
    )
