"""Idempotent commands: the key is recorded in the same transaction as the events.

A command sent with an ``Idempotency-Key`` stores its result under (scope, key) in the
transaction that appends its events, so "the command happened" and "the key is taken"
commit together. A repeat finds the row and gets the first result, with nothing
appended; a concurrent repeat's ``INSERT … ON CONFLICT DO NOTHING`` waits on the row's
primary key until the first transaction ends, inserts nothing, and the repeat then reads
the first result. The same key with a different request is refused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.sql import SQL, Identifier

TABLE = "idempotency_keys"


@dataclass(frozen=True)
class IdempotencyKey:
    scope: str  # who sent it: a customer id, or "anonymous"
    key: str
    fingerprint: str  # what was asked: method, path and canonical body

    @staticmethod
    def fingerprint_of(method: str, path: str, body: bytes) -> str:
        return hashlib.sha256(b"\0".join([method.encode(), path.encode(), body])).hexdigest()


@dataclass(frozen=True)
class PendingKey:
    """Passed to ``save()``; ``result`` renders what to store once ids are known."""

    key: IdempotencyKey
    result: Callable[[Sequence[StoredEvent], Sequence[int]], dict[str, Any]]


class IdempotencyKeyReusedError(Exception):
    """The key was used before for a different request."""


class RepeatedKeyError(Exception):
    """Another transaction committed this key first: read its result instead."""


class IdempotentPostgresRecorder(PostgresApplicationRecorder):
    """The event store's recorder, also writing idempotency rows in the same transaction."""

    def _table(self) -> Identifier:
        return Identifier(self.datastore.schema, TABLE)

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        pending: PendingKey | None = kwargs.get("idempotency")
        if pending is None:
            inserted: Sequence[int] | None = super().insert_events(stored_events, **kwargs)
            return inserted
        # Not pipelined, and not retried on a dropped connection: the client's retry with
        # the same key is the safe retry, and it finds the row if the first attempt committed.
        key = pending.key
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            # First, before the events: a concurrent repeat waits here for us to finish.
            curs.execute(
                SQL(
                    "INSERT INTO {} (scope, key, fingerprint, result) VALUES (%s, %s, %s, '{{}}')"
                    " ON CONFLICT DO NOTHING RETURNING 1"
                ).format(self._table()),
                (key.scope, key.key, key.fingerprint),
            )
            if curs.fetchone() is None:
                raise RepeatedKeyError(key.key)
            self._insert_stored_events(curs, stored_events)
            ids: Sequence[int] | None = self._fetch_ids_after_insert_events(curs, stored_events)
            curs.execute(
                SQL("UPDATE {} SET result = %s WHERE scope = %s AND key = %s").format(
                    self._table()
                ),
                (
                    orjson.dumps(pending.result(stored_events, ids or [])).decode(),
                    key.scope,
                    key.key,
                ),
            )
            return ids

    def find_result(self, key: IdempotencyKey) -> dict[str, Any] | None:
        """The stored result for ``key``; raises if the key was used for another request."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                SQL("SELECT fingerprint, result FROM {} WHERE scope = %s AND key = %s").format(
                    self._table()
                ),
                (key.scope, key.key),
            )
            row = curs.fetchone()
        if row is None:
            return None
        if row["fingerprint"] != key.fingerprint:
            raise IdempotencyKeyReusedError(key.key)
        result: dict[str, Any] = row["result"]
        return result
