"""The relay: one active at a time, log order per partition, every event exactly once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from uuid import uuid4

from contracts.envelope import Envelope
from contracts.topics import all_topics, partition_for
from eventshop import wiring
from tests.support.stack import PASSWORD, Servers, eventually, running_stack
from tests.support.topics import read_all


def test_one_relay_publishes_and_a_standby_takes_over(servers: Servers) -> None:
    with running_stack(servers) as stack:
        first, second = wiring.relay(stack.settings), wiring.relay(stack.settings)
        stop_first, stop_second = threading.Event(), threading.Event()
        threads = [
            threading.Thread(target=first.run, args=(stop_first,), daemon=True),
            threading.Thread(target=second.run, args=(stop_second,), daemon=True),
        ]
        for thread in threads:
            thread.start()
        try:
            eventually(lambda: first.active.is_set() or second.active.is_set())
            active, standby, stop_active = (
                (first, second, stop_first)
                if first.active.is_set()
                else (second, first, stop_second)
            )
            assert not standby.active.is_set()

            def register(n: int) -> None:
                response = stack.commands.post(
                    "/customers",
                    json={
                        "email": f"r{n}-{uuid4().hex[:6]}@x.io",
                        "name": "R",
                        "password": PASSWORD,
                    },
                )
                assert response.status_code == 201, response.text

            # Counts include the stack's admin, registered before the relays started: the
            # active one publishes all 21 before it goes, so the standby's 10 are all new.
            with ThreadPoolExecutor(max_workers=4) as pool:
                list(pool.map(register, range(20)))
            eventually(lambda: active.stats.published >= 20 + 1)

            stop_active.set()  # the active relay goes away; the standby takes the lock
            eventually(standby.active.is_set, timeout=15)
            with ThreadPoolExecutor(max_workers=4) as pool:
                list(pool.map(register, range(20, 30)))
            eventually(lambda: standby.stats.published >= 10)
        finally:
            stop_first.set()
            stop_second.set()
            for thread in threads:
                thread.join(timeout=15)

        records = read_all(
            stack.settings.kafka_bootstrap_servers or "", all_topics(stack.settings.topic_prefix)
        )
        envelopes = [Envelope.from_record(list(r.headers), r.value) for r in records]
        ids = [e.notification_id for e in envelopes]
        # Every customer registration once, and never a claim (internal) event.
        assert len(ids) == len(set(ids)) == 30 + 1  # and the stack's admin
        assert {e.event_type for e in envelopes} == {"CustomerRegistered"}
        for record, envelope in zip(records, envelopes, strict=True):
            assert record.key == str(envelope.aggregate_id).encode()
            assert record.partition == partition_for(envelope.aggregate_id)
        by_partition: dict[int, list[int]] = {}
        for record, envelope in zip(records, envelopes, strict=True):
            by_partition.setdefault(record.partition, []).append(envelope.notification_id)
        for partition_ids in by_partition.values():
            assert partition_ids == sorted(partition_ids), "published out of log order"


VERSIONED = ("event_type", "schema_version")


def test_the_relay_forwards_stored_bytes_untouched(servers: Servers) -> None:
    with running_stack(servers) as stack:
        product_id = stack.admin.post(
            "/products", json={"sku": f"U-{uuid4().hex[:8]}", "title": "Ü ✓", "price": 1}
        ).json()["id"]
        relay = stack.start_relay()
        eventually(lambda: relay.stats.published >= 1)
        stored = stack.sql(
            "SELECT state, topic FROM {es}.shop_events WHERE originator_id = %s", product_id
        )
        records = read_all(
            stack.settings.kafka_bootstrap_servers or "", all_topics(stack.settings.topic_prefix)
        )
        assert [(bytes(stored[0][0]), stored[0][1])] == [
            (r.value, "{}.v{}".format(*(dict(r.headers)[k].decode() for k in VERSIONED)))
            for r in records
            if r.key == product_id.encode()
        ]
