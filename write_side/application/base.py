"""The write model's shared plumbing (see :class:`write_side.application.shop.Shop`)."""

from __future__ import annotations

import functools
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, LRUCache
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import EventStore, IntegrityError, Mapper, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder

from contracts.causation import caused_by
from contracts.consistency import PartitionMark, aggregate_tag, encode_token
from contracts.placement import place
from write_side.application.aggregate_locks import AggregateLocks
from write_side.application.passwords import Argon2Passwords
from write_side.application.types import (
    MAX_ATTEMPTS,
    NO_CONTEXT,
    CommandContext,
    CommandResult,
    ConcurrencyConflictError,
    NotFoundError,
    PasswordHasher,
    PreconditionFailedError,
)
from write_side.domain.customer import Customer
from write_side.domain.product import Product
from write_side.gateway.port import (
    FakePaymentGateway,
    PaymentGateway,
)
from write_side.persistence.aggregate_cache import MeasuredCache
from write_side.persistence.contract_mapping import ContractMapper
from write_side.persistence.personal_keys import PENDING, Erasure, KeyChanges, KeyRing
from write_side.persistence.recorder import (
    IdempotentPostgresRecorder,
    PendingKey,
    RepeatedKeyError,
)
from write_side.persistence.snapshots import SnapshotMapper, SnapshotStore, Snapshotter

A = TypeVar("A", bound=Aggregate)


class ShopBase(Application[UUID]):
    """The plumbing every context's commands share: idempotency, retries on contention,
    get and save, and the consistency token of what a save appended."""

    # Loads read the newest snapshot this release reads, then the events after it
    # (write_side/persistence/snapshots.py); the Snapshotter writes them, not save().
    is_snapshotting_enabled = True

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        topic_prefix: str = "",
        token_key: bytes = b"",
        passwords: PasswordHasher | None = None,
        gateway: PaymentGateway | None = None,
        snapshot_every: int = 500,
        snapshot_in_background: bool = True,
        cache_max_bytes: int = 256 * 2**20,
    ) -> None:
        self.topic_prefix = topic_prefix
        #: Signs consistency tokens (``contracts.consistency.token_key`` of the server secret).
        self.token_key = token_key
        self.passwords: PasswordHasher = passwords or Argon2Passwords()
        self.gateway: PaymentGateway = gateway or FakePaymentGateway()
        #: Commands re-run after losing a race (read by benchmarks and operators).
        self.contention_retries = 0
        #: Each attempt of a command holds the aggregates it reads (aggregate_locks.py).
        self.aggregate_locks = AggregateLocks()
        #: Customers' data keys (personal_keys.py): in memory until bound to PostgreSQL.
        self.keys = KeyRing()
        super().__init__(env)
        if isinstance(self.recorder, PostgresApplicationRecorder):
            self.keys.bind(self.recorder.datastore)
        if isinstance(self.repository.cache, LRUCache):  # bounded by memory, too
            self.repository.cache = MeasuredCache(self.repository.cache.maxsize, cache_max_bytes)
        store = self.snapshots if isinstance(self.snapshots, SnapshotStore) else None
        self.snapshotter = Snapshotter(store, snapshot_every, background=snapshot_in_background)

    def construct_mapper(self) -> Mapper[UUID]:
        return ContractMapper(transcoder=self.factory.transcoder(), keys=self.keys)

    def construct_snapshot_store(self) -> EventStore[UUID]:
        return SnapshotStore(
            SnapshotMapper(transcoder=self.factory.transcoder()),
            self.factory.aggregate_recorder(purpose="snapshots"),
        )

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        """The library's save, with the keys made while sealing (and an erasure) committed
        in the events' transaction (write_side/persistence/personal_keys.py)."""
        changes: KeyChanges = kwargs.pop("personal", None) or KeyChanges()
        pending = PENDING.set(changes)
        try:
            recordings = super().save(*objs, personal=changes, **kwargs)
        finally:
            PENDING.reset(pending)
        self.keys.committed(changes)
        return recordings

    def close(self) -> None:
        self.snapshotter.close()
        super().close()

    def idempotent(self, ctx: CommandContext, run: Callable[[], CommandResult]) -> CommandResult:
        """Run a command once per idempotency key: a repeat gets the first result back.

        Raises :class:`IdempotencyKeyReusedError` when the key came with another request.
        (Keys are kept by the PostgreSQL recorder; in-memory stores run every command.)
        """
        recorder = self.recorder
        if ctx.idempotency is None or not isinstance(recorder, IdempotentPostgresRecorder):
            return run()
        found = recorder.find_result(ctx.idempotency)
        if found is not None:
            return CommandResult.from_json(found)
        try:
            return run()
        except RepeatedKeyError:
            found = recorder.find_result(ctx.idempotency)
            assert found is not None, "the winner's row commits before we see the conflict"
            return CommandResult.from_json(found)

    def _with_retries(self, command: Callable[[], CommandResult]) -> CommandResult:
        for attempt in range(MAX_ATTEMPTS):
            try:
                return command()
            except ConcurrencyConflictError:
                if attempt == MAX_ATTEMPTS - 1:
                    raise
                self.contention_retries += 1
                time.sleep(random.uniform(0, 0.002 * (attempt + 1)))  # jitter apart
        raise AssertionError("unreachable")

    # Reads of the write model (for tests and invariants, not for the query API)

    def get_customer(self, customer_id: UUID) -> Customer:
        return self._get(Customer, customer_id)

    def get_product(self, product_id: UUID) -> Product:
        return self._get(Product, product_id)

    # Plumbing

    def _find(self, kind: type[A], aggregate_id: UUID) -> A | None:
        try:
            return self._get(kind, aggregate_id)
        except NotFoundError:
            return None

    def _get(
        self,
        kind: type[A],
        aggregate_id: UUID,
        expected_version: int | None = None,
        acting_for: UUID | None = None,
    ) -> A:
        """The aggregate; someone else's (``acting_for``) is as missing as a missing one.

        Inside a command, the aggregate stays locked in this process until the command's
        attempt ends (write_side/application/aggregate_locks.py)."""
        self.aggregate_locks.hold(aggregate_id)
        try:
            aggregate: Aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise NotFoundError(kind.__name__.lower(), aggregate_id) from None
        owner = getattr(aggregate, "customer_id", aggregate.id)
        if not isinstance(aggregate, kind) or acting_for not in (None, owner):
            raise NotFoundError(kind.__name__.lower(), aggregate_id)
        if expected_version is not None and aggregate.version != expected_version:
            raise PreconditionFailedError(expected_version, aggregate.version)
        return aggregate

    def _save(
        self,
        *aggregates: Aggregate,
        subject: Aggregate,
        ctx: CommandContext = NO_CONTEXT,
        erasure: Erasure | None = None,
    ) -> CommandResult:
        def result(events: Sequence[StoredEvent], ids: Sequence[int]) -> CommandResult:
            return CommandResult(subject.id, subject.version, self._token(events, ids))

        options: dict[str, Any] = {}
        if ctx.idempotency is not None and isinstance(self.recorder, IdempotentPostgresRecorder):
            options["idempotency"] = PendingKey(
                ctx.idempotency, lambda events, ids: result(events, ids).as_json()
            )
        try:
            recordings = self.save(*aggregates, personal=KeyChanges(erasure=erasure), **options)
        except IntegrityError as error:
            raise ConcurrencyConflictError(str(error)) from error
        notifications = [r.notification for r in recordings]
        self.snapshotter.saved(
            aggregates, Counter(r.domain_event.originator_id for r in recordings)
        )
        return result(notifications, [n.id for n in notifications])

    def _token(self, events: Sequence[StoredEvent], ids: Sequence[int]) -> str:
        marks = []
        for event, notification_id in zip(events, ids, strict=True):
            placed = place(event.topic, event.originator_id, self.topic_prefix)
            if placed is not None:
                tag = aggregate_tag(event.originator_id)
                marks.append(PartitionMark(placed.topic, placed.partition, notification_id, (tag,)))
        return encode_token(marks, self.token_key)


P = ParamSpec("P")
S = TypeVar("S", bound=ShopBase)
UseCase = Callable[Concatenate[S, P], CommandResult]


def use_case(*, retries: bool = False) -> Callable[[UseCase[S, P]], UseCase[S, P]]:
    """What every command gets, in one place: run once per ``ctx.idempotency`` key (a
    repeat answers the first result), and with ``retries``, run again on a lost race
    (contention on an aggregate, as orders meet on hot products)."""

    def decorate(method: UseCase[S, P]) -> UseCase[S, P]:
        name = method.__name__

        @functools.wraps(method)
        def run(self: S, /, *args: P.args, **kwargs: P.kwargs) -> CommandResult:
            ctx = kwargs.get("ctx", NO_CONTEXT)
            assert isinstance(ctx, CommandContext)

            cause = ctx.cause.model_copy(update={"command": name}) if ctx.cause else None

            def once() -> CommandResult:
                # The events it stores say who and what caused them; the aggregates it reads
                # stay locked in this process until this attempt ends.
                with caused_by(cause), self.aggregate_locks.unit():
                    return method(self, *args, **kwargs)

            return self.idempotent(ctx, (lambda: self._with_retries(once)) if retries else once)

        return run

    return decorate
