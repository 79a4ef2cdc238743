"""Contracts: payload round trips, upcasting, envelopes and consistency tokens."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts import topics, upcasting
from contracts.consistency import (
    InvalidConsistencyTokenError,
    PartitionMark,
    aggregate_tag,
    decode_token,
    encode_token,
    token_key,
)
from contracts.envelope import Envelope
from contracts.events import ALL_EVENTS, ProductCreated
from contracts.past import PAST_VERSIONS, ProductCreatedV1, ProductDetailsChangedV1
from contracts.topics import PARTITIONS, partition_for

text = st.text(max_size=50)
KEY = token_key("a-server-secret-that-is-long-enough-for-tests")


@given(sku=text, title=text, price=st.integers(min_value=0, max_value=10**12))
def test_a_payload_round_trips_through_its_stored_bytes(sku: str, title: str, price: int) -> None:
    event = ProductCreated(occurred_at=datetime.now(UTC), sku=sku, title=title, price=price)
    stored = upcasting.encode(event)
    assert upcasting.decode_topic(upcasting.topic_of(event), stored) == event


@given(
    category=st.text(max_size=30),
    title=text,
    past=st.sampled_from([ProductCreatedV1, ProductDetailsChangedV1]),
)
def test_a_v1_product_event_reads_as_v2_with_its_category_as_a_list(
    category: str, title: str, past: type[ProductCreatedV1 | ProductDetailsChangedV1]
) -> None:
    """Written by the real v1 contract (contracts/past.py), read as the current version."""
    fields: dict[str, Any] = {"title": title, "description": "d", "category": category}
    if past is ProductCreatedV1:
        fields |= {"sku": "S-1", "price": 5}
    v1 = past(occurred_at=datetime.now(UTC), **fields)
    read = upcasting.decode_topic(upcasting.topic_of(v1), upcasting.encode(v1))
    label = " ".join(category.split()).casefold()
    assert read.categories == ((label,) if label else ())  # type: ignore[attr-defined]
    assert read.title == title  # type: ignore[attr-defined]


def test_every_past_version_has_an_upcaster_to_the_next() -> None:
    for cls in ALL_EVENTS:
        for version in range(1, cls.schema_version):
            assert (cls.type_name, version) in upcasting.UPCASTERS, (cls.type_name, version)
            assert (cls.type_name, version) in PAST_VERSIONS, (cls.type_name, version)


def test_an_upcaster_runs_once_per_version_step(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ProductCreated, "schema_version", 3)
    monkeypatch.setitem(
        upcasting.UPCASTERS,
        ("ProductCreated", 2),
        lambda d: {**d, "title": d["title"].upper()},
    )
    v1 = b'{"occurred_at":"2026-01-01T00:00:00Z","sku":"S","title":"mug","price":5}'
    read = upcasting.decode_topic("ProductCreated.v1", v1)
    assert (read.title, read.categories) == ("MUG", ())  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("topic", "payload", "error"),
    [
        ("NoSuchEvent.v1", b"{}", upcasting.UnknownEventTypeError),
        ("ProductCreated.v9", b"{}", upcasting.UnknownEventTypeError),
        ("ProductCreated.v1", b"not json", upcasting.UndecodableEventError),
        ("ProductCreated.v1", b"[1, 2]", upcasting.UndecodableEventError),
        ("ProductCreated.v2", b'{"sku": 1}', upcasting.UndecodableEventError),
        ("garbage", b"{}", upcasting.UndecodableEventError),
    ],
)
def test_bad_payloads_raise_a_named_error(
    topic: str, payload: bytes, error: type[Exception]
) -> None:
    with pytest.raises(error):
        upcasting.decode_topic(topic, payload)


def test_an_envelope_survives_kafka_headers() -> None:
    envelope = Envelope(7, uuid4(), 3, "StockAdjusted", 1, b"{}")
    assert Envelope.from_record(envelope.headers(datetime.now(UTC)), b"{}") == envelope


@pytest.mark.parametrize(
    "headers", [None, [], [("notification_id", b"x")], [("notification_id", b"\xff")]]
)
def test_a_bad_envelope_is_undecodable(headers: list[tuple[str, bytes]] | None) -> None:
    with pytest.raises(upcasting.UndecodableEventError):
        Envelope.from_record(headers, b"{}")


@given(st.lists(st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 2), st.integers(1, 10**9))))
def test_a_token_keeps_the_highest_id_per_partition(marks: list[tuple[str, int, int]]) -> None:
    decoded = decode_token(encode_token([PartitionMark(*m) for m in marks], KEY), KEY)
    expected: dict[tuple[str, int], int] = {}
    for topic, partition, nid in marks:
        expected[(topic, partition)] = max(expected.get((topic, partition), 0), nid)
    assert {(m.topic, m.partition): m.notification_id for m in decoded} == expected


@pytest.mark.parametrize(
    "token",
    ["", "v1.", "v1.!!!", "v2.W10", "v1.e30", "v1.WzFd", "v1." + "A" * 5000, "v1.W1siYSIsMCwwXV0"],
)
def test_garbage_tokens_are_rejected(token: str) -> None:
    with pytest.raises(InvalidConsistencyTokenError):
        decode_token(token, KEY)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_a_token_forged_without_the_key_is_rejected() -> None:
    far_ahead = orjson.dumps([["shop.catalog", 0, 10**12]])
    forged = [
        "v1." + _b64(far_ahead),  # the unsigned format of earlier releases
        "v2." + _b64(far_ahead),
        "v2." + _b64(far_ahead) + "." + _b64(b"0" * 16),
        encode_token([PartitionMark("shop.catalog", 0, 10**12)], token_key("another secret")),
    ]
    for token in forged:
        with pytest.raises(InvalidConsistencyTokenError):
            decode_token(token, KEY)


def test_an_altered_token_is_rejected_and_the_original_accepted() -> None:
    token = encode_token([PartitionMark("shop.catalog", 3, 41)], KEY)
    assert decode_token(token, KEY) == [PartitionMark("shop.catalog", 3, 41)]
    body, tag = token.removeprefix("v2.").split(".")
    raised = _b64(orjson.dumps([["shop.catalog", 3, 10**12]]))
    other_tag = ("B" if tag[0] == "A" else "A") + tag[1:]
    for altered in (f"v2.{raised}.{tag}", f"v2.{body}.{other_tag}", f"v2.{body}"):
        with pytest.raises(InvalidConsistencyTokenError):
            decode_token(altered, KEY)


class FakeCluster:
    """Just enough cluster metadata for kafka-python's partitioner."""

    def topics(self) -> set[str]:
        return {"t"}

    def partitions_for_topic(self, _: str) -> set[int]:
        return set(range(PARTITIONS))

    available_partitions_for_topic = partitions_for_topic


def test_partitions_match_kafkas_default_partitioner() -> None:
    from kafka.partitioner.default import DefaultPartitioner

    for _ in range(50):
        key = uuid4()
        serialized = str(key).encode()
        expected = DefaultPartitioner().partition("t", key, serialized, None, None, FakeCluster())
        assert partition_for(key) == expected


def test_a_token_names_the_aggregates_of_each_partition() -> None:
    a, b = uuid4(), uuid4()
    marks = [
        PartitionMark("t", 1, 5, (aggregate_tag(a),)),
        PartitionMark("t", 1, 7, (aggregate_tag(b),)),
    ]
    assert decode_token(encode_token(marks, KEY), KEY) == [
        PartitionMark("t", 1, 7, tuple(sorted((aggregate_tag(a), aggregate_tag(b)))))
    ]


@given(st.binary(max_size=64))
def test_our_murmur2_is_kafkas(data: bytes) -> None:
    """contracts/ carries its own murmur2 (no broker client): it must agree with Kafka's
    default partitioner byte for byte, or tokens would name the wrong partitions."""
    from kafka.partitioner.default import murmur2 as kafkas

    assert topics.murmur2(data) == kafkas(data)
