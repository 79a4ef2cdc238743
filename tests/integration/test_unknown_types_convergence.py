"""Unknown event types in random histories (docs/architecture.md, "Changing an event").

A newer release adds a type to each topic; this release's projectors meet those events
mixed into random histories, delivered as Kafka might (partitions interleaved, batches
redelivered). Each aggregate that got one waits behind it: every read model equals the
replay of the known events up to the first unknown one of each aggregate (and all events of
the others). Then the release that knows the types starts (here it ignores them on purpose)
and drains what waited, in order: every read model equals the replay of the whole history.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any
from uuid import UUID

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest import MonkeyPatch

from contracts import upcasting
from contracts.events import ContractEvent
from projections.live.applier import Applier
from projections.live.release import upgrade_parked
from projections.registry import PROJECTIONS
from read_side.queries import reports
from tests.integration.test_convergence import assert_rows_match_the_oracle, deliver
from tests.support.histories import T0, History, histories
from tests.support.reads import SyncReads


class GiftWrapped(ContractEvent):
    type_name = "GiftWrapped"
    context = "catalog"

    paper: str = "red"


class LoyaltyTierChanged(ContractEvent):
    type_name = "LoyaltyTierChanged"
    context = "customers"

    tier: str = "gold"


class OrderNoteAdded(ContractEvent):
    type_name = "OrderNoteAdded"
    context = "orders"

    note: str = "leave at the door"


#: A newer release's type for each topic, unknown to this release's contracts.
FUTURE: dict[str | None, type[ContractEvent]] = {
    c.context: c for c in (GiftWrapped, LoyaltyTierChanged, OrderNoteAdded)
}


def with_unknown_events(history: History, data: st.DataObject) -> dict[UUID, int]:
    """Insert a future event into some streams, never first (the aggregate exists);
    returns where each stream's first unknown event is."""
    cuts: dict[UUID, int] = {}
    for aid in list(history.streams):  # in creation order: ids are random
        events = history.streams[aid]
        if not data.draw(st.booleans()):
            continue
        for _ in range(data.draw(st.integers(1, 2))):
            at = data.draw(st.integers(1, len(events)))
            future = FUTURE[type(events[0]).context]
            events.insert(at, future(occurred_at=events[at - 1].occurred_at))
            cuts[aid] = min(cuts.get(aid, at), at)
    return cuts


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(history=histories(), seed=st.integers(0, 2**32), data=st.data())
def test_unknown_types_park_their_aggregate_and_drain_after_the_upgrade(
    db: tuple[psycopg.Connection[Any], str],
    reads: SyncReads,
    history: History,
    seed: int,
    data: st.DataObject,
) -> None:
    conn, schema = db
    history = History(streams={aid: list(events) for aid, events in history.streams.items()})
    cuts = with_unknown_events(history, data)
    rng = random.Random(seed)
    prefix = "u."
    sales_before = reads(reports.sales, schema, start=T0.date(), end=T0.date())[0]
    deliver(conn, [Applier(p, schema) for p in PROJECTIONS.values()], history, rng, prefix)
    known = History(
        streams={
            aid: events[: cuts.get(aid, len(events))] for aid, events in history.streams.items()
        }
    )
    assert_rows_match_the_oracle(reads, schema, known, sales_before)

    with MonkeyPatch.context() as patch:  # the newer release: it knows the types
        for future in FUTURE.values():
            patch.setitem(upcasting.EVENTS_BY_NAME, future.type_name, future)
        names = frozenset(f.type_name for f in FUTURE.values())
        for projection in PROJECTIONS.values():
            mine = {n for n in names if upcasting.EVENTS_BY_NAME[n].context in projection.contexts}
            upgrade_parked(conn, replace(projection, ignored=projection.ignored | mine), schema)
    assert_rows_match_the_oracle(reads, schema, history, sales_before)
