"""Customers' data keys on the write side: read to open, created and destroyed with events.

A save collects what it does to keys in a :class:`KeyChanges` (a new customer's key; an
erasure: a destroyed key, the clear events rewritten, the record kept) and the recorder
applies it in the transaction that appends the events
(:meth:`~write_side.persistence.recorder.IdempotentPostgresRecorder._insert_events`):
"registered" and "has a key", "erased" and "key gone", commit together or not at all.

Keys are read from the table each time (no cache): after an erasure no process of this
side can open the customer's values again, whatever it held before.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import orjson
from psycopg.sql import SQL, Identifier

from contracts.personal import KEY_TABLE, new_key

ERASURES_TABLE = "erasures"


@dataclass
class Erasure:
    """What erasing ``customer_id`` does beside appending ``CustomerErased``."""

    customer_id: UUID
    by: str
    #: ``(aggregate id, version, topic, new payload)`` of each clear event rewritten in place.
    rewrites: list[tuple[UUID, int, str, bytes]] = field(default_factory=list)
    #: How many of their events were sealed (unreadable once the key is gone).
    sealed_events: int = 0

    def record(self) -> dict[str, Any]:
        return {
            "rewritten": [
                {"aggregate_id": str(a), "version": v, "topic": t} for a, v, t, _ in self.rewrites
            ],
            "sealed_events": self.sealed_events,
        }


@dataclass
class KeyChanges:
    new: dict[UUID, bytes] = field(default_factory=dict)
    erasure: Erasure | None = None


#: The changes of the save in progress on this thread (None: outside a save).
PENDING: ContextVar[KeyChanges | None] = ContextVar("eventshop_key_changes", default=None)


class NoSaveInProgressError(RuntimeError):
    """A personal field was sealed outside ``ShopBase._save``: its new key would be lost."""


class KeyRing:
    """Keys in memory (unit tests on the library's in-memory store) until :meth:`bind`
    points it at the event store's PostgreSQL datastore."""

    def __init__(self) -> None:
        self._memory: dict[UUID, bytes] = {}
        self._datastore: Any = None
        self._schema = ""

    def bind(self, datastore: Any) -> None:
        self._datastore = datastore
        self._schema = datastore.schema

    def table(self, name: str = KEY_TABLE) -> Identifier:
        return Identifier(self._schema, name)

    def key_for_read(self, owner: UUID) -> bytes | None:
        pending = PENDING.get()
        if pending is not None and owner in pending.new:
            return pending.new[owner]
        if self._datastore is None:
            return self._memory.get(owner)
        with self._datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                SQL("SELECT key FROM {} WHERE customer_id = %s").format(self.table()), (owner,)
            )
            row = curs.fetchone()
        return None if row is None else bytes(row["key"])

    def key_for_write(self, owner: UUID) -> bytes:
        """The owner's key; a new one (stored with this save's events) if they have none:
        a new customer, or one registered before personal fields were sealed."""
        key = self.key_for_read(owner)
        if key is not None:
            return key
        pending = PENDING.get()
        if pending is None:
            raise NoSaveInProgressError(str(owner))
        key = pending.new[owner] = new_key()
        return key

    def ensure_key(self, owner: UUID) -> bytes | None:
        """The owner's key, made and committed now if they have none (the relay sealing a
        clear event of a customer registered before sealing); None if they were erased
        meanwhile. Racing writers agree: the first insert wins and everyone reads it."""
        key = self.key_for_read(owner)
        if key is not None:
            return key
        if self._datastore is None:
            return self._memory.setdefault(owner, new_key())
        with self._datastore.get_connection() as conn, conn.transaction(), conn.cursor() as c:
            c.execute(
                SQL(
                    "INSERT INTO {} (customer_id, key) SELECT %s, %s WHERE NOT EXISTS"
                    " (SELECT 1 FROM {} WHERE customer_id = %s) ON CONFLICT DO NOTHING"
                ).format(self.table(), self.table(ERASURES_TABLE)),
                (owner, new_key(), owner),
            )
        return self.key_for_read(owner)

    def committed(self, changes: KeyChanges) -> None:
        """After a save: the in-memory ring applies what the recorder would have."""
        if self._datastore is not None:
            return
        self._memory.update(changes.new)
        if changes.erasure is not None:
            self._memory.pop(changes.erasure.customer_id, None)


def apply_key_changes(curs: Any, schema: str, changes: KeyChanges) -> None:
    """In the events' transaction. A concurrent save that created the same owner's key
    fails on the primary key (an IntegrityError: the command is retried and reads it)."""
    keys = Identifier(schema, KEY_TABLE)
    for owner, key in changes.new.items():
        curs.execute(
            SQL("INSERT INTO {} (customer_id, key) VALUES (%s, %s)").format(keys), (owner, key)
        )
    erasure = changes.erasure
    if erasure is None:
        return
    curs.execute(SQL("DELETE FROM {} WHERE customer_id = %s").format(keys), (erasure.customer_id,))
    events = Identifier(schema, "shop_events")
    for aggregate_id, version, topic, state in erasure.rewrites:
        curs.execute(
            SQL(
                "UPDATE {} SET state = %s WHERE originator_id = %s AND originator_version = %s"
                " AND topic = %s"
            ).format(events),
            (state, aggregate_id, version, topic),
        )
    curs.execute(
        SQL(
            "INSERT INTO {} (customer_id, erased_by, record) VALUES (%s, %s, %s)"
            " ON CONFLICT (customer_id) DO NOTHING"
        ).format(Identifier(schema, ERASURES_TABLE)),
        (erasure.customer_id, erasure.by, orjson.dumps(erasure.record()).decode()),
    )
