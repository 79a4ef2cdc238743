"""What the relay does with each stored event type, and how it reports being stuck.

A stored type is published (this release has a topic for it), passed over (listed as
internal in ``contracts.topics.INTERNAL_EVENT_TYPES``), or unknown: written by a newer
release than this relay's. At an unknown type the relay fails closed: it publishes
everything before it, checkpoints there, reports ``blocked`` with the type's name (relay
status, its /readyz, a metric, one error line a minute), and lets go of its lock so a
standby of the newer release can take over. It never skips the event.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg

from contracts.events import ContractEvent
from contracts.placement import Placement, place
from contracts.upcasting import UnknownEventTypeError
from write_side.relay.checkpoint import save_blocked

log = logging.getLogger("write_side.relay.publisher")


@dataclass
class RelayStats:
    published: int = 0
    batches: int = 0
    #: Events in the last batch published.
    last_batch_size: int = 0
    republishes: int = 0
    last_published_at: float = 0.0
    #: The stored type the relay stopped at (it does not know it), and its notification id.
    blocked_type: str | None = None
    blocked_at: int = 0


class StoredTypes:
    def __init__(
        self,
        contracts: Mapping[str, type[ContractEvent]],
        internal: frozenset[str],
        topic_prefix: str,
    ) -> None:
        self.contracts = contracts
        self.internal = internal
        self.topic_prefix = topic_prefix

    def placement(self, stored_topic: str, aggregate_id: UUID | str) -> Placement | None:
        """Where a stored event goes; None for a type this release cannot publish."""
        try:
            return place(stored_topic, aggregate_id, self.topic_prefix, self.contracts)
        except (UnknownEventTypeError, ValueError):
            return None

    def is_internal(self, stored_topic: str) -> bool:
        return stored_topic.rpartition(".v")[0] in self.internal


class BlockReport:
    def __init__(self, schema: str, stats: RelayStats) -> None:
        self.schema = schema
        self.stats = stats
        self._last_log = 0.0
        #: A relay that starts may find another's block recorded: its first batch clears it.
        self._recorded = True

    def block(self, conn: psycopg.Connection[Any], stored_topic: str, notification_id: int) -> None:
        if self.stats.blocked_type != stored_topic:
            self._last_log = 0.0
        self.stats.blocked_type, self.stats.blocked_at = stored_topic, notification_id
        save_blocked(conn, self.schema, stored_topic, notification_id)
        self._recorded = True
        if time.monotonic() - self._last_log >= 60:
            self._last_log = time.monotonic()
            log.error(
                "relay: blocked at notification %d: stored type %r is neither published nor"
                " internal in this release; everything before it is published; run a release"
                " that knows it",
                notification_id,
                stored_topic,
            )

    def unblock(self, conn: psycopg.Connection[Any]) -> None:
        """A batch went past where a relay was blocked: clear the record of it."""
        if not self._recorded:
            return
        if self.stats.blocked_type is not None:
            log.info("relay: unblocked (%s is published now)", self.stats.blocked_type)
        self.stats.blocked_type, self.stats.blocked_at = None, 0
        save_blocked(conn, self.schema, None, None)
        self._recorded = False
