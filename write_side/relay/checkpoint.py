"""The relay's checkpoint row (how far it published, what the broker acknowledged, where
it is blocked, which leader epoch may write it), its leadership, and the broker's topics,
as the relay finds and keeps them."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg
from kafka import KafkaAdminClient
from kafka.errors import TopicAlreadyExistsError
from psycopg import sql

from contracts.bookkeeping import PUBLISHED_CHANNEL, relay_lock
from contracts.topics import PARTITIONS

log = logging.getLogger(__name__)


@dataclass
class Checkpoint:
    notification_id: int = 0
    #: ``"topic:partition" -> offset`` of the last record the broker acknowledged.
    offsets: dict[str, int] = field(default_factory=dict)
    republished: int = 0
    #: ``topic -> topic id`` as first seen; a new id means the topic was recreated, empty.
    topic_ids: dict[str, str] = field(default_factory=dict)


def load_checkpoint(conn: psycopg.Connection[Any], schema: str) -> Checkpoint:
    row = conn.execute(
        sql.SQL(
            "SELECT notification_id, partition_offsets, republished, topic_ids"
            " FROM {}.relay_checkpoint"
        ).format(sql.Identifier(schema))
    ).fetchone()
    if row is None:
        return Checkpoint()
    return Checkpoint(int(row[0]), dict(row[1]), int(row[2]), dict(row[3]))


def wait_for_leadership(
    database_url: str, schema: str, stop: threading.Event, poll_seconds: float = 1.0
) -> psycopg.Connection[Any] | None:
    """Wait as a standby until this relay holds the advisory lock (its session's: a leader
    that dies lets go when PostgreSQL notices, and a standby takes over within a poll);
    None when stopped first."""
    conn = psycopg.connect(database_url, autocommit=True)
    key = relay_lock(schema)
    while not stop.is_set():
        row = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (key,)).fetchone()
        if row and row[0]:
            log.info("relay: advisory lock %r held", key)
            return conn
        stop.wait(poll_seconds)
    conn.close()
    return None


class LeadershipLostError(Exception):
    """A newer relay took the leader epoch: this one must stop publishing."""


def take_leadership(conn: psycopg.Connection[Any], schema: str) -> int:
    """The next leader epoch, taken by the relay that just got the lock."""
    row = conn.execute(
        sql.SQL(
            "UPDATE {}.relay_checkpoint SET leader_epoch = leader_epoch + 1 RETURNING leader_epoch"
        ).format(sql.Identifier(schema))
    ).fetchone()
    assert row is not None, "migrations insert the checkpoint row"
    return int(row[0])


def save_checkpoint(
    conn: psycopg.Connection[Any],
    schema: str,
    checkpoint: Checkpoint,
    epoch: int,
    before: Checkpoint | None = None,
) -> None:
    """Move the checkpoint, if ``epoch`` is still the leader's, and wake the projectors'
    listeners (``PUBLISHED_CHANNEL``, naming the partitions moved since ``before``) in the
    same statement; else LeadershipLostError."""
    moved = conn.execute(
        sql.SQL(
            "UPDATE {}.relay_checkpoint SET notification_id = %s, partition_offsets = %s,"
            " republished = %s, topic_ids = %s, updated_at = now() WHERE leader_epoch = %s"
            " RETURNING pg_notify(%s, %s)"
        ).format(sql.Identifier(schema)),
        (
            checkpoint.notification_id,
            orjson.dumps(checkpoint.offsets).decode(),
            checkpoint.republished,
            orjson.dumps(checkpoint.topic_ids).decode(),
            epoch,
            PUBLISHED_CHANNEL,
            published_news(before, checkpoint),
        ),
    ).rowcount
    if moved != 1:
        raise LeadershipLostError(f"leader epoch {epoch} is no longer the relay's")


#: PostgreSQL refuses a NOTIFY payload of 8000 bytes or more; a longer list is sent empty.
NEWS_LIMIT = 7900


def published_news(before: Checkpoint | None, after: Checkpoint) -> str:
    """The payload of a checkpoint's NOTIFY: the partitions whose acknowledged offset moved
    since ``before``, or empty (news for every partition) when there is no ``before``, the
    log was republished, or the list would be too long for a NOTIFY."""
    if before is None or before.republished != after.republished:
        return ""
    moved = " ".join(sorted(k for k, v in after.offsets.items() if before.offsets.get(k) != v))
    return moved if len(moved.encode()) <= NEWS_LIMIT else ""


def save_blocked(
    conn: psycopg.Connection[Any], schema: str, type_name: str | None, at: int | None
) -> None:
    """Record (or, with ``None``, clear) the stored type the relay stopped at."""
    conn.execute(
        sql.SQL(
            "UPDATE {}.relay_checkpoint SET blocked_type = %s, blocked_at = %s,"
            " blocked_since = CASE WHEN %s::text IS NULL THEN NULL"
            " ELSE coalesce(blocked_since, now()) END"
        ).format(sql.Identifier(schema)),
        (type_name, at, type_name),
    )


def ensure_topics(admin: KafkaAdminClient, topics: list[str]) -> dict[str, str]:
    """Create the topics that are missing; answer every topic's id (``topic -> id``)."""
    existing = set(admin.list_topics())
    missing = [t for t in topics if t not in existing]
    if missing:
        with contextlib.suppress(TopicAlreadyExistsError):
            admin.create_topics(
                {t: {"num_partitions": PARTITIONS, "replication_factor": 1} for t in missing},
                wait_for_metadata=True,
            )
    return {d["name"]: str(d["topic_id"]) for d in admin.describe_topics(topics)}


def beat(conn: psycopg.Connection[Any], schema: str, last: float, every: float = 2.0) -> float:
    """The active relay's heartbeat, at most every ``every`` seconds; returns when it beat.
    Operators' lag views call a relay whose heartbeat is old ``relay down``."""
    if time.monotonic() - last < every:
        return last
    conn.execute(
        sql.SQL("UPDATE {}.relay_checkpoint SET heartbeat_at = now()").format(
            sql.Identifier(schema)
        )
    )
    return time.monotonic()
