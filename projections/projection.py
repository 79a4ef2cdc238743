"""What a projection is: a name, its source topics and one handler per event type."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from psycopg import Cursor

from contracts.envelope import Envelope
from contracts.events import ContractEvent
from contracts.readmodels import SOURCES

Handler = Callable[[Cursor[Any], str, Envelope, Any], None]
"""``handler(cursor, schema, envelope, event)`` writes the event's effect on the rows."""


@dataclass(frozen=True)
class Projection:
    name: str
    handlers: dict[type[ContractEvent], Handler]
    #: The read-model tables this projection alone writes (what a rebuild replaces).
    tables: tuple[str, ...] = ()

    @property
    def contexts(self) -> tuple[str, ...]:
        return SOURCES[self.name]

    def __post_init__(self) -> None:
        # Looked up once per event on the hot path: index by the published type name.
        by_name = {cls.type_name: handler for cls, handler in self.handlers.items()}
        object.__setattr__(self, "_by_name", by_name)

    def handler_for(self, event_type: str) -> Handler | None:
        by_name: dict[str, Handler] = self.__dict__["_by_name"]
        return by_name.get(event_type)
