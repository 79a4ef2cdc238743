"""The peer: the ``eventsourcing`` library's own ``ProjectionRunner`` applying one of our
projections, one event per transaction (its tracking record in the same transaction).

The runner subscribes to the Shop application's recorder as the library intends; the
application's mapper is swapped for one that hands over the stored event, so the peer
decodes it exactly as our rebuild does and runs our SQL handlers on it.
"""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Mapper, StoredEvent, Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.projection import Projection as LibraryProjection
from eventsourcing.projection import ProjectionRunner

from contracts.envelope import Envelope
from contracts.upcasting import decode, parse_topic
from projections.projection import Handler
from projections.projection import Projection as OurProjection
from write_side.application.shop import Shop


class _StoredEvents(Mapper[UUID]):
    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        return stored_event


class StoredEventShop(Shop):
    name = Shop.name  # the same notification log (the library names tables after the app)

    def construct_mapper(self) -> Mapper[UUID]:
        return _StoredEvents(transcoder=self.factory.transcoder())


class PeerView(PostgresTrackingRecorder):
    """A materialised view in PostgreSQL, as the library's documentation builds one."""

    def apply(
        self,
        handler: Handler | None,
        schema: str,
        envelope: Envelope,
        event: Any,
        tracking: Tracking,
    ) -> None:
        with self.datastore.transaction(commit=True) as cursor:
            if handler is not None:
                handler(cursor, schema, envelope, event)
            self._insert_tracking(cursor, tracking)


class PeerProjection(LibraryProjection[PeerView]):
    target: OurProjection
    schema: str

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        stored: StoredEvent = domain_event
        type_name, schema_version = parse_topic(stored.topic)
        envelope = Envelope(
            tracking.notification_id,
            UUID(str(stored.originator_id)),
            stored.originator_version,
            type_name,
            schema_version,
            stored.state,
        )
        event = decode(type_name, schema_version, stored.state)
        self.view.apply(self.target.handler_for(type_name), self.schema, envelope, event, tracking)


def peer_rate(
    projection: OurProjection,
    *,
    topics: list[str],
    env: dict[str, str],
    schema: str,
    until_notification_id: int,
    events: int,
) -> float:
    """Run the peer from the start until it has tracked ``until_notification_id``;
    returns events per second."""
    name = f"peer_{projection.name}"
    cls = type(
        f"Peer{projection.name.title()}",
        (PeerProjection,),
        {"name": name, "topics": tuple(topics), "target": projection, "schema": schema},
    )
    peer_env = env | {
        f"{name.upper()}_POSTGRES_SCHEMA": schema,
        f"{name.upper()}_CREATE_TABLE": "y",
    }
    began = time.perf_counter()
    with ProjectionRunner(
        application_class=StoredEventShop,
        projection_class=cls,
        view_class=PeerView,
        env=peer_env,
    ) as runner:
        runner.wait(until_notification_id, timeout=3600)
        elapsed = time.perf_counter() - began
    return events / elapsed
