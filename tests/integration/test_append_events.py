"""A command's events go in with one call of ``append_events`` (write_side/persistence/
recorder.py, ``_append``), and that call keeps what the library's insert transaction
promised: notification order equals commit order (a reader tailing the log never passes
an id that commits later), a version taken twice is a conflict, every append NOTIFYs the
relay's channel, and a held table lock fails after the configured timeout."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import uuid4

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, OperationalError, StoredEvent
from psycopg import sql

from contracts.bookkeeping import EVENTS_CHANNEL
from eventshop import wiring
from tests.support.stack import Servers, isolated_settings
from write_side.application.shop import Shop
from write_side.persistence.recorder import IdempotencyKey, IdempotentPostgresRecorder, PendingKey

WRITERS, APPENDS = 8, 150


@contextmanager
def a_shop(servers: Servers) -> Iterator[tuple[Shop, IdempotentPostgresRecorder, str]]:
    settings = isolated_settings(servers)
    wiring.migrate(settings)
    shop = wiring.shop(settings, pool_size=WRITERS + 2)
    try:
        assert isinstance(shop.recorder, IdempotentPostgresRecorder)
        yield shop, shop.recorder, settings.event_schema
    finally:
        shop.close()


def an_event(version: int = 1) -> StoredEvent:
    return StoredEvent(uuid4(), version, "test:Appended", b"{}")


def test_a_reader_tailing_the_log_never_passes_an_id_that_commits_later(
    servers: Servers,
) -> None:
    with a_shop(servers) as (_, recorder, _schema):
        written: list[int] = []
        seen: list[int] = []
        done = threading.Event()

        def write(keyed: bool) -> None:
            for n in range(APPENDS):
                # Half the writers send idempotency keys: their saves append in a transaction.
                key = IdempotencyKey("tail", uuid4().hex, str(n)) if keyed else None
                options = {"idempotency": PendingKey(key, lambda *_: {})} if key else {}
                written.extend(recorder.insert_events([an_event(), an_event()], **options) or [])

        def tail() -> None:
            last = 0
            while True:
                finished = done.is_set()
                found = recorder.select_notifications(last + 1, 500)
                seen.extend(n.id for n in found)
                last = found[-1].id if found else last
                if finished and not found:
                    return

        reader = threading.Thread(target=tail)
        writers = [threading.Thread(target=write, args=(n % 2 == 0,)) for n in range(WRITERS)]
        reader.start()
        for thread in writers:
            thread.start()
        for thread in writers:
            thread.join()
        done.set()
        reader.join()

        assert len(written) == WRITERS * APPENDS * 2
        assert seen == sorted(seen)
        passed_over = sorted(set(written) - set(seen))
        assert not passed_over, f"{len(passed_over)} ids committed after the reader passed them"


def test_one_append_is_one_statement_that_keeps_the_library_s_promises(
    servers: Servers,
) -> None:
    with a_shop(servers) as (_, recorder, schema):
        with psycopg.connect(servers.database_url, autocommit=True) as listener:
            listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(EVENTS_CHANNEL)))
            first = an_event(1)
            second = StoredEvent(first.originator_id, 2, first.topic, b"{}")
            ids = recorder.insert_events([first, second])
            assert ids is not None and len(ids) == 2 and ids[1] == ids[0] + 1
            assert [n.channel for n in listener.notifies(timeout=2, stop_after=1)] == [
                EVENTS_CHANNEL
            ]
        # The same version again: a conflict, as the library's insert says it.
        with pytest.raises(IntegrityError):
            recorder.insert_events([StoredEvent(first.originator_id, 2, "test:Again", b"{}")])
        stored = recorder.select_events(first.originator_id)
        assert [(e.originator_version, e.topic) for e in stored] == [
            (1, "test:Appended"),
            (2, "test:Appended"),
        ]
        # A writer holding the table lock: the append gives up after the lock timeout.
        recorder.datastore.lock_timeout = 1
        with psycopg.connect(servers.database_url) as holder:
            holder.execute(
                sql.SQL("LOCK TABLE {}.shop_events IN EXCLUSIVE MODE").format(
                    sql.Identifier(schema)
                )
            )
            started = time.monotonic()
            with pytest.raises(OperationalError, match="lock timeout"):
                recorder.insert_events([an_event()])
            assert 0.9 <= time.monotonic() - started < 4
            holder.rollback()
        assert recorder.insert_events([an_event()])


def test_a_store_not_migrated_yet_appends_through_the_library_s_transaction(
    servers: Servers, caplog: pytest.LogCaptureFixture
) -> None:
    """A command API of this release started before `eventshop migrate` reached the store
    (the function is missing) still saves, never a 500, and says what to run."""
    with a_shop(servers) as (_, recorder, schema):
        with psycopg.connect(servers.database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP FUNCTION {}.append_events").format(sql.Identifier(schema)))
        first = an_event()
        ids = recorder.insert_events([first])
        assert ids and recorder.select_events(first.originator_id)[0].topic == first.topic
        assert recorder.insert_events([an_event()]), "and the next save goes straight there"
        warned = [r.message for r in caplog.records if "append_events" in r.message]
        assert warned == ["event store: append_events is missing; run eventshop migrate"]
