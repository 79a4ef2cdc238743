"""Random commerce histories as contract events, how Kafka might deliver them, and the
read models they should produce, computed without SQL or Kafka (the pure replay oracle)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from hypothesis import strategies as st

from contracts import events as c
from contracts.envelope import Envelope
from contracts.topics import partition_for, topic_for
from contracts.upcasting import EVENTS_BY_NAME, decode, encode, parse_topic
from projections.records import Incoming

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class History:
    """Events per aggregate, in version order, with the time each happened."""

    streams: dict[UUID, list[c.ContractEvent]] = field(default_factory=dict)
    clock: int = 0

    def add(self, aggregate_id: UUID, make: Any, **fields: Any) -> None:
        self.clock += 1
        event = make(occurred_at=T0 + timedelta(seconds=self.clock), **fields)
        self.streams.setdefault(aggregate_id, []).append(event)


@st.composite
def histories(draw: st.DrawFn) -> History:
    h = History()
    customers = [uuid4() for _ in range(draw(st.integers(1, 3)))]
    products = [uuid4() for _ in range(draw(st.integers(1, 3)))]
    for n, cid in enumerate(customers):
        h.add(cid, c.CustomerRegistered, email=f"c{n}@x.io", name=f"C{n}")
        for change in draw(st.lists(st.sampled_from(["name", "email"]), max_size=3)):
            if change == "name":
                h.add(cid, c.CustomerRenamed, name=draw(st.sampled_from(["Ann", "Bo", "Cy"])))
            else:
                h.add(cid, c.CustomerEmailChanged, email=f"{uuid4().hex[:6]}@x.io")
    for n, pid in enumerate(products):
        h.add(pid, c.ProductCreated, sku=f"S{n}", title=f"T{n}", price=draw(st.integers(1, 99)))
        for step in draw(
            st.lists(st.sampled_from(["stock", "price", "title", "publish"]), max_size=4)
        ):
            if step == "stock":
                h.add(pid, c.StockAdjusted, delta=draw(st.integers(1, 20)))
            elif step == "price":
                h.add(pid, c.ProductPriceChanged, price=draw(st.integers(1, 99)))
            elif step == "title":
                h.add(
                    pid,
                    c.ProductDetailsChanged,
                    title=draw(st.sampled_from(["X", "Y"])),
                    description="",
                    categories=(),
                )
            else:
                h.add(pid, c.ProductPublished)
    for _ in range(draw(st.integers(0, 4))):
        oid, customer = uuid4(), draw(st.sampled_from(customers))
        picked = draw(st.lists(st.sampled_from(products), min_size=1, max_size=3, unique=True))
        lines = tuple(
            c.OrderLine(product_id=p, sku="S", title="snap", unit_price=10, quantity=q)
            for p, q in zip(
                picked,
                draw(st.lists(st.integers(1, 3), min_size=len(picked), max_size=len(picked))),
                strict=True,
            )
        )
        total = sum(line.unit_price * line.quantity for line in lines)
        h.add(oid, c.OrderPlaced, customer_id=customer, lines=lines, total=total)
        for line in lines:
            h.add(line.product_id, c.StockReserved, order_id=oid, quantity=line.quantity)
        fate = draw(st.sampled_from(["placed", "paid", "shipped", "cancelled", "refunded"]))
        if fate in ("paid", "shipped", "refunded"):
            h.add(oid, c.OrderPaid, payment_id=uuid4(), amount=total)
        if fate == "shipped":
            h.add(oid, c.OrderShipped)
            for line in lines:
                h.add(line.product_id, c.StockCommitted, order_id=oid, quantity=line.quantity)
        if fate in ("cancelled", "refunded"):
            h.add(oid, c.OrderCancelled, refunded=total if fate == "refunded" else 0)
            for line in lines:
                h.add(line.product_id, c.StockReleased, order_id=oid, quantity=line.quantity)
    return h


def store_log(h: History, rng: random.Random) -> list[tuple[Envelope, c.ContractEvent]]:
    """The events in a global notification order that keeps each aggregate's order
    (any merge will do), as the event store would number them."""
    cursors = {aid: 0 for aid in h.streams}
    log: list[tuple[Envelope, c.ContractEvent]] = []
    while cursors:
        aid = rng.choice(sorted(cursors))
        version = cursors[aid]
        event = h.streams[aid][version]
        envelope = Envelope(len(log) + 1, aid, version + 1, type(event).type_name, 1, encode(event))
        log.append((envelope, event))
        cursors[aid] += 1
        if cursors[aid] == len(h.streams[aid]):
            del cursors[aid]
    return log


def deliveries(h: History, rng: random.Random, prefix: str) -> list[list[Incoming]]:
    """Batches as Kafka might hand them over: partitions interleaved, some redelivered."""
    partitions: dict[tuple[str, int], list[Incoming]] = {}
    for envelope, event in store_log(h, rng):
        topic = topic_for(type(event), prefix)
        assert topic is not None
        key = (topic, partition_for(envelope.aggregate_id))
        queue = partitions.setdefault(key, [])
        queue.append(Incoming(key[0], key[1], len(queue), envelope.headers(T0), envelope.payload))
    batches: list[list[Incoming]] = []
    offsets = {key: 0 for key in partitions}
    while offsets:
        key = rng.choice(sorted(offsets))
        start = offsets[key]
        if start and rng.random() < 0.2:
            start = rng.randrange(start)  # a crash before the offset commit: redelivery
        end = min(start + rng.randint(1, 4), len(partitions[key]))
        batches.append(partitions[key][start:end])
        offsets[key] = end
        if end == len(partitions[key]):
            del offsets[key]
    return batches


def oracle(h: History) -> tuple[dict[UUID, Any], dict[UUID, Any], dict[UUID, Any]]:
    """The read models, computed directly from the histories: no SQL, no Kafka."""
    customers: dict[UUID, dict[str, Any]] = {}
    products: dict[UUID, dict[str, Any]] = {}
    orders: dict[UUID, dict[str, Any]] = {}
    everything = sorted(
        ((e.occurred_at, aid, e) for aid, events in h.streams.items() for e in events),
        key=lambda x: x[0],
    )
    for _, aid, e in everything:
        match e:
            case c.CustomerRegistered():
                customers[aid] = {
                    "email": e.email,
                    "name": e.name,
                    "order_count": 0,
                    "lifetime_value": 0,
                    "last_order_at": None,
                }
            case c.CustomerRenamed():
                customers[aid]["name"] = e.name
            case c.CustomerEmailChanged():
                customers[aid]["email"] = e.email
            case c.ProductCreated():
                products[aid] = {
                    "title": e.title,
                    "price": e.price,
                    "status": "draft",
                    "on_hand": 0,
                    "reserved": 0,
                    "units_sold": 0,
                }
            case c.StockAdjusted():
                products[aid]["on_hand"] += e.delta
            case c.ProductPriceChanged():
                products[aid]["price"] = e.price
            case c.ProductDetailsChanged():
                products[aid]["title"] = e.title
            case c.ProductPublished():
                products[aid]["status"] = "published"
            case c.StockReserved():
                products[aid]["reserved"] += e.quantity
            case c.StockReleased():
                products[aid]["reserved"] -= e.quantity
            case c.StockCommitted():
                products[aid]["reserved"] -= e.quantity
                products[aid]["on_hand"] -= e.quantity
                products[aid]["units_sold"] += e.quantity
            case c.OrderPlaced():
                orders[aid] = {
                    "customer": e.customer_id,
                    "status": "placed",
                    "total": e.total,
                    "payment_status": "unpaid",
                    "lines": [(line.product_id, line.quantity) for line in e.lines],
                }
                stats = customers[e.customer_id]
                stats["order_count"] += 1
                stats["last_order_at"] = e.occurred_at
            case c.OrderPaid():
                orders[aid] |= {"status": "paid", "payment_status": "paid"}
                customers[orders[aid]["customer"]]["lifetime_value"] += e.amount
            case c.OrderShipped():
                orders[aid]["status"] = "shipped"
            case c.OrderCancelled():
                orders[aid]["status"] = "cancelled"
                if e.refunded:
                    orders[aid]["payment_status"] = "refunded"
                    customers[orders[aid]["customer"]]["lifetime_value"] -= e.refunded
    return customers, products, orders


def history_from_store(rows: list[tuple[Any, ...]]) -> History:
    """The published events of an event store, from ``(originator_id, topic, state)`` rows
    in notification order (internal events have no contract and are left out)."""
    h = History()
    for originator_id, stored_topic, state in rows:
        type_name, schema_version = parse_topic(stored_topic)
        cls = EVENTS_BY_NAME.get(type_name)
        if cls is None or cls.context is None:
            continue
        event = decode(type_name, schema_version, bytes(state))
        h.streams.setdefault(UUID(str(originator_id)), []).append(event)
    return h
