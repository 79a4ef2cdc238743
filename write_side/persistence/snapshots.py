"""Snapshots of long streams: a cold load replays at most ``every`` events, not the stream.

A bestseller appends a reservation and a commit per sale, so its stream grows without end
(200,000 events took 8.6 s to load cold: 43 µs an event). Every ``every`` versions the
saving process snapshots the aggregate — off the request path: the command copies the
aggregate's state (a dict copy) and a background thread writes it to ``shop_snapshots`` and
deletes that aggregate's older snapshots. A lost snapshot (a crash, a full queue) costs at
most another ``every`` events of replay; nothing else reads snapshots: the relay, the
projectors, rebuilds and verify read the events only (docs/architecture.md, "Snapshots").

Each snapshot carries its aggregate's ``state_version`` in its topic
(``snapshot:Product.s2``). A release that changes the shape of an aggregate's attributes
bumps that number, and its loads pass over older snapshots (a full replay, once, until the
next snapshot) instead of mis-reading them.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.domain import Aggregate, DomainEventProtocol, Snapshot
from eventsourcing.persistence import EventStore, IntegrityError, Mapper, StoredEvent
from eventsourcing.postgres import PostgresAggregateRecorder
from eventsourcing.utils import get_topic
from psycopg import sql

from write_side.domain.product import Product

log = logging.getLogger(__name__)

#: Decoders of the attributes JSON does not give back as they were, per snapshotted kind.
_DECODE: dict[str, Callable[[Any], Any]] = {
    "_created_on": datetime.fromisoformat,
    "_modified_on": datetime.fromisoformat,
}
SNAPSHOTTED: dict[type[Aggregate], dict[str, Callable[[Any], Any]]] = {
    Product: {
        **_DECODE,
        "categories": tuple,
        "held": lambda held: {int(order, 16): quantity for order, quantity in held.items()},
    },
}
#: Encoders of the attributes JSON cannot hold as they are (128-bit int keys), per kind.
ENCODED: dict[type[Aggregate], dict[str, Callable[[Any], Any]]] = {
    Product: {"held": lambda held: {f"{order:032x}": q for order, q in held.items()}},
}
_BY_NAME = {kind.__name__: kind for kind in SNAPSHOTTED}


def _copied(state: dict[str, Any]) -> dict[str, Any]:
    """The state as it is now: its containers copied (what they hold is immutable: ids,
    numbers, strings), so the live aggregate changing later does not change the snapshot."""
    return {k: v.copy() if isinstance(v, dict | list | set) else v for k, v in state.items()}


def snapshot_topic(kind: type[Aggregate]) -> str:
    return f"snapshot:{kind.__name__}.s{getattr(kind, 'state_version', 1)}"


def is_current(topic: str) -> bool:
    """A snapshot of a kind this release snapshots, at the state version it reads."""
    name = topic.removeprefix("snapshot:").rpartition(".s")[0]
    kind = _BY_NAME.get(name)
    return kind is not None and topic == snapshot_topic(kind)


class SnapshotMapper(Mapper[UUID]):
    """Snapshots as JSON under ``snapshot:<Kind>.s<state version>``: never contracts."""

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        assert isinstance(domain_event, Snapshot)
        kind = _BY_NAME[domain_event.topic.rpartition(":")[2]]
        values = dict(domain_event.state)
        for name, encode in ENCODED.get(kind, {}).items():
            if name in values:
                values[name] = encode(values[name])
        state = orjson.dumps(values, option=orjson.OPT_NON_STR_KEYS)
        return StoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=snapshot_topic(kind),
            state=state,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        kind = _BY_NAME[stored_event.topic.removeprefix("snapshot:").rpartition(".s")[0]]
        state: dict[str, Any] = orjson.loads(stored_event.state)
        for name, decode in SNAPSHOTTED[kind].items():
            if name in state:
                state[name] = decode(state[name])
        return Snapshot(
            originator_id=UUID(str(stored_event.originator_id)),
            originator_version=stored_event.originator_version,
            timestamp=state.get("_modified_on") or Snapshot.create_timestamp(),
            topic=get_topic(kind),
            state=state,
        )


class SnapshotStore(EventStore[UUID]):
    """Returns only snapshots this release reads: a stale one is as good as none."""

    def get(
        self,
        originator_id: UUID,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Iterator[DomainEventProtocol[UUID]]:
        stored = self.recorder.select_events(
            originator_id=originator_id, gt=gt, lte=lte, desc=desc, limit=limit
        )
        return (self.mapper.to_domain_event(s) for s in stored if is_current(s.topic))


class Snapshotter:
    """Takes a snapshot each time a saved aggregate of a snapshotted kind crosses a
    multiple of ``every`` versions, and writes it from a background thread."""

    def __init__(self, store: SnapshotStore | None, every: int, *, background: bool = True):
        self.store = store
        self.every = every
        self.background = background
        self.written = 0
        self._queue: queue.Queue[Snapshot | None] = queue.Queue(maxsize=256)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def saved(self, aggregates: Sequence[Aggregate], new_events: dict[UUID, int]) -> None:
        """After a save: ``new_events`` is how many events each aggregate just appended."""
        if self.store is None or self.every <= 0:
            return
        for aggregate in aggregates:
            added = new_events.get(aggregate.id, 0)
            if type(aggregate) not in SNAPSHOTTED or not added:
                continue
            if aggregate.version // self.every > (aggregate.version - added) // self.every:
                # The state as saved; the cached copy goes on changing.
                snapshot = Snapshot.take(aggregate)
                object.__setattr__(snapshot, "state", _copied(snapshot.state))
                self._offer(snapshot)

    def _offer(self, snapshot: Snapshot) -> None:
        if not self.background:
            self._write(snapshot)
            return
        self._start()
        try:
            self._queue.put_nowait(snapshot)
        except queue.Full:
            log.warning("snapshots: the queue is full; %s skipped", snapshot.originator_id)

    def flush(self) -> None:
        """Wait until every offered snapshot is written (tests, benchmarks)."""
        if self._thread is not None:
            self._queue.join()

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=5)
            self._thread = None

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="snapshots", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while (snapshot := self._queue.get()) is not None:
            try:
                self._write(snapshot)
            except Exception as error:  # a cache: a lost snapshot costs replay, never data
                log.warning("snapshots: %s not written: %s", snapshot.originator_id, error)
            finally:
                self._queue.task_done()
        self._queue.task_done()

    def _write(self, snapshot: Snapshot) -> None:
        assert self.store is not None
        try:
            self.store.put([snapshot])
        except IntegrityError:
            return  # this version was snapshotted already
        self.written += 1
        recorder = self.store.recorder
        if isinstance(recorder, PostgresAggregateRecorder):  # keep only the newest
            with recorder.datastore.transaction(commit=True) as cur:
                cur.execute(
                    sql.SQL(
                        "DELETE FROM {} WHERE originator_id = %s AND originator_version < %s"
                    ).format(sql.Identifier(recorder.datastore.schema, recorder.events_table_name)),
                    (snapshot.originator_id, snapshot.originator_version),
                )
