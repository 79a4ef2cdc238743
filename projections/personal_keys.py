"""Opening personal fields in consumers: projectors, the mail intake and rebuilds.

Keys are read through ``<read schema>.customer_keys(ids)`` (installed by ``eventshop
migrate`` beside the event-store head; the query role may not run it) in the consumer's
own transaction, never cached past it: once an erasure destroyed a key, the next read of
that customer's events shows :data:`contracts.personal.ERASED`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from psycopg import Cursor, sql

from contracts.bookkeeping import KEYS_FUNCTION
from contracts.envelope import Envelope
from contracts.events import ContractEvent
from contracts.personal import PERSONAL_FIELDS, needs_key, reveal


class KeyReader:
    def __init__(self, schema: str) -> None:
        self.statement = sql.SQL("SELECT customer_id, key FROM {}(%s::uuid[])").format(
            sql.Identifier(schema, KEYS_FUNCTION)
        )

    def fetch(self, cur: Cursor[Any], owners: Iterable[UUID]) -> dict[UUID, bytes]:
        wanted = list(set(owners))
        if not wanted:
            return {}
        cur.execute(self.statement, (wanted,))
        found: dict[UUID, bytes] = {}
        for row in cur.fetchall():
            owner, key = (row["customer_id"], row["key"]) if isinstance(row, dict) else row
            found[owner] = bytes(key)
        return found

    def reveal(self, cur: Cursor[Any], env: Envelope, event: ContractEvent) -> ContractEvent:
        """``event`` with its sealed fields opened (one key read, only when it has any)."""
        if event.type_name not in PERSONAL_FIELDS or not needs_key(event):
            return event
        keys = self.fetch(cur, [env.aggregate_id])
        return reveal(event, env.aggregate_id, keys.get)


def personal_owners(events: Iterable[Envelope]) -> set[UUID]:
    """Whose keys a batch of published events may need (a customer event's owner is its
    aggregate; the internal claim events are never published)."""
    return {e.aggregate_id for e in events if e.event_type in PERSONAL_FIELDS}
