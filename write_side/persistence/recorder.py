"""Idempotent commands: the key is recorded in the same transaction as the events.

A command sent with an ``Idempotency-Key`` stores its result under (scope, key) in the
transaction that appends its events, so "the command happened" and "the key is taken"
commit together. A repeat finds the row and gets the first result, with nothing
appended; a concurrent repeat's ``INSERT … ON CONFLICT DO NOTHING`` waits on the row's
primary key until the first transaction ends, inserts nothing, and the repeat then reads
the first result. The same key with a different request is refused.

Keys expire after ``retention_seconds`` (24 h by default, as the payment APIs that made
the header common do). An expired key is gone for good: sent again, it is a new request
and runs again (a new result), whether or not the sweep has deleted its row yet. The
sweep (:meth:`IdempotentPostgresRecorder.delete_expired`) deletes expired rows in small
batches, so it never holds many row locks at once.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.sql import SQL, Identifier

from write_side.persistence.personal_keys import KeyChanges, apply_key_changes

TABLE = "idempotency_keys"
log = logging.getLogger(__name__)


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

    #: How long a key is remembered (set from settings by the composition root).
    retention_seconds: float = 86400.0
    #: Whether the store has ``append_events`` (None: not looked up yet), and when a
    #: store without it is looked at again (the migration may run after we start).
    _append_found: bool | None = None
    _append_recheck_at = 0.0
    APPEND_RECHECK_SECONDS = 10.0

    def _table(self) -> Identifier:
        return Identifier(self.datastore.schema, TABLE)

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        pending: PendingKey | None = kwargs.get("idempotency")
        changes = _key_changes(kwargs)
        if not self._has_append():
            if pending is None:
                # The library retries a write whose connection dropped. After a COMMIT that
                # reached the server that retry is a conflict, which our command retries
                # would then run again: twice the effect. Once only; a dropped connection
                # is a 503.
                once = PostgresApplicationRecorder.insert_events.__wrapped__
                inserted: Sequence[int] | None = once(self, stored_events, **kwargs)
                return inserted
        elif pending is None and changes is None:
            if not stored_events:
                return []  # nothing to lock the table for
            # Most commands: one statement in its own transaction.
            with self.datastore.get_connection() as conn, conn.cursor() as curs:
                return self._append(curs, stored_events)
        # Keys (idempotency or personal) written with the events, in one transaction. Not
        # retried on a dropped connection: the client's retry with the same key is the safe
        # retry, and it finds the row if the first attempt committed.
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            if pending is not None:
                self._claim(curs, pending.key)
            if changes is not None:
                apply_key_changes(curs, self.datastore.schema, changes)
            ids: Sequence[int] | None
            if self._has_append():
                ids = self._append(curs, stored_events)
            else:
                self._insert_stored_events(curs, stored_events)
                ids = self._fetch_ids_after_insert_events(curs, stored_events)
            if pending is not None:
                curs.execute(
                    SQL("UPDATE {} SET result = %s WHERE scope = %s AND key = %s").format(
                        self._table()
                    ),
                    (
                        orjson.dumps(pending.result(stored_events, ids or [])).decode(),
                        pending.key.scope,
                        pending.key.key,
                    ),
                )
            return ids

    def _claim(self, curs: Any, key: IdempotencyKey) -> None:
        """Before the events: a concurrent repeat waits here for us to finish."""
        curs.execute(
            SQL(
                "INSERT INTO {t} AS k (scope, key, fingerprint, result)"
                " VALUES (%s, %s, %s, '{{}}') ON CONFLICT (scope, key) DO UPDATE SET"
                " fingerprint = EXCLUDED.fingerprint, result = '{{}}', created_at = now()"
                " WHERE k.created_at <= now() - make_interval(secs => %s)"  # expired: anew
                " RETURNING 1"
            ).format(t=self._table()),
            (key.scope, key.key, key.fingerprint, self.retention_seconds),
        )
        if curs.fetchone() is None:
            raise RepeatedKeyError(key.key)

    def _append(self, curs: Any, stored_events: Sequence[StoredEvent]) -> list[int]:
        """The library's insert (lock_timeout, the EXCLUSIVE table lock that keeps
        notification order equal to commit order, NOTIFY, INSERT) as one call of the
        ``append_events`` function the migration installs: one prepared statement in place
        of four, and, alone, of the library's seven pipelined ones (docs/operations.md,
        "Throughput")."""
        events = [
            self.construct_pg_stored_event(e.originator_id, e.originator_version, e.topic, e.state)
            for e in stored_events
        ]
        curs.execute(
            SQL("SELECT n FROM {}.append_events(%s, %s) AS n").format(
                Identifier(self.datastore.schema)
            ),
            (events, self.datastore.lock_timeout),
            prepare=True,
        )
        return [row["n"] for row in curs.fetchall()]

    def construct_pg_stored_event(self, *args: Any, **kwargs: Any) -> Any:
        """The library's, after registering the stored-event composite type if the store
        did not have it when we started: compose starts the APIs beside the migrate job,
        and the library looks the type up once, then fails every save."""
        if self.stored_event_type_name not in self.datastore.psycopg_python_types:
            self.datastore.register_type_adapters()
        return super().construct_pg_stored_event(*args, **kwargs)

    def _has_append(self) -> bool:
        """Whether the store has ``append_events``: looked up at the first save. A store
        the migration of this release has not reached yet is written as the library writes
        it, in more statements, and looked at again every ``APPEND_RECHECK_SECONDS``."""
        if self._append_found is False and time.monotonic() >= self._append_recheck_at:
            self._append_found = None
        if self._append_found is None:
            schema = self.datastore.schema
            with self.datastore.get_connection() as conn, conn.cursor() as curs:
                curs.execute(
                    "SELECT to_regprocedure(format('%%I.append_events(%%I.stored_event_uuid[],"
                    " int)', %s::text, %s::text)) IS NOT NULL AS found",
                    (schema, schema),
                )
                row = curs.fetchone()
            self._append_found = bool(row and row["found"])
            if not self._append_found:
                self._append_recheck_at = time.monotonic() + self.APPEND_RECHECK_SECONDS
                log.warning("event store: append_events is missing; run eventshop migrate")
        return self._append_found

    def _insert_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        """Before the events, in their transaction: keys created or destroyed, and an
        erasure's rewrites and record (personal_keys.py)."""
        changes = _key_changes(kwargs)
        if changes is not None:
            apply_key_changes(curs, self.datastore.schema, changes)

    # Reads: the library tries each ten times, each attempt waiting for a pool connection,
    # so with the database down one request waited half a minute, past any client's
    # timeout. Twice is enough: pooled connections are checked before use, so the second
    # attempt is for a connection that broke mid-read; then it is a 503 (DATABASE_UNAVAILABLE).

    def select_events(self, *args: Any, **kwargs: Any) -> Any:
        return _twice(PostgresApplicationRecorder.select_events.__wrapped__, self, args, kwargs)

    def select_notifications(self, *args: Any, **kwargs: Any) -> Any:
        read = PostgresApplicationRecorder.select_notifications.__wrapped__
        return _twice(read, self, args, kwargs)

    def max_notification_id(self) -> int | None:
        read = PostgresApplicationRecorder.max_notification_id.__wrapped__
        found: int | None = _twice(read, self, (), {})
        return found

    def find_result(self, key: IdempotencyKey) -> dict[str, Any] | None:
        """The stored result for ``key``; raises if the key was used for another request."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                SQL(
                    "SELECT fingerprint, result FROM {} WHERE scope = %s AND key = %s"
                    " AND created_at > now() - make_interval(secs => %s)"
                ).format(self._table()),
                (key.scope, key.key, self.retention_seconds),
            )
            row = curs.fetchone()
        if row is None:
            return None
        if row["fingerprint"] != key.fingerprint:
            raise IdempotencyKeyReusedError(key.key)
        result: dict[str, Any] = row["result"]
        return result

    def delete_expired(self, batch_size: int = 500) -> int:
        """Delete expired keys, ``batch_size`` rows per transaction; returns how many."""
        deleted = 0
        while True:
            with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as c:
                c.execute(
                    SQL(
                        "DELETE FROM {t} WHERE (scope, key) IN (SELECT scope, key FROM {t}"
                        " WHERE created_at <= now() - make_interval(secs => %s)"
                        " LIMIT %s FOR UPDATE SKIP LOCKED)"
                    ).format(t=self._table()),
                    (self.retention_seconds, batch_size),
                )
                count = c.rowcount
            deleted += count
            if count < batch_size:
                return deleted


def _key_changes(kwargs: dict[str, Any]) -> KeyChanges | None:
    """The save's personal-key changes, when it has any to write (personal_keys.py)."""
    changes: KeyChanges | None = kwargs.get("personal")
    if changes is not None and (changes.new or changes.erasure is not None):
        return changes
    return None


def _twice(
    read: Callable[..., Any], recorder: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    try:
        return read(recorder, *args, **kwargs)
    except (InterfaceError, OperationalError):
        time.sleep(0.05)
        return read(recorder, *args, **kwargs)
