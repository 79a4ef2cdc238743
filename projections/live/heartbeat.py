"""A projector instance says, every few seconds, which partitions it holds.

Lag and liveness are judged from outside the projector (read_side.operations.projection_status): a
partition whose owner's heartbeat is older than ``STALE_AFTER_SECONDS`` has no live owner,
so it shows as ``down`` — a dead or wedged projector cannot keep claiming ``live``.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Collection, Sequence
from typing import Any

import psycopg
from kafka import KafkaConsumer
from psycopg import sql

from contracts.bookkeeping import INSTANCES_TABLE, partition_key

BEAT_SECONDS = 2.0


class Heartbeat:
    def __init__(self, schema: str, projection: str) -> None:
        self.projection = projection
        self.instance = f"{socket.gethostname()}:{os.getpid()}"
        self.table = sql.Identifier(schema, INSTANCES_TABLE)
        self._last = 0.0
        self._held: list[str] | None = None

    def due(
        self, consumer: KafkaConsumer, topics: Collection[str] | None = None
    ) -> tuple[str, str, str, list[str]] | None:
        """This instance's row, if it is due: the partitions ``consumer`` holds now (of
        ``topics``, for one member of a processing group), at once when they changed,
        else every BEAT_SECONDS; None when it is not due."""
        held = sorted(
            partition_key(tp.topic, tp.partition)
            for tp in consumer.assignment()
            if topics is None or tp.topic in topics
        )
        if held == self._held and time.monotonic() - self._last < BEAT_SECONDS:
            return None
        self._last, self._held = time.monotonic(), held
        return (self.projection, self.instance, _member_id(consumer), held)

    def leave(self, conn: psycopg.Connection[Any]) -> None:
        """A clean stop: the partitions are nobody's until the group hands them on."""
        with conn.transaction():
            conn.execute(
                sql.SQL("DELETE FROM {} WHERE projection = %s AND instance = %s").format(
                    self.table
                ),
                (self.projection, self.instance),
            )


def beat(
    conn: psycopg.Connection[Any],
    consumer: KafkaConsumer,
    hearts: Sequence[tuple[Heartbeat, Collection[str] | None]],
) -> None:
    """The due rows of a processing group's members (each with its topics) in one
    statement, not one each: four fewer transactions every two seconds, idle or not."""
    rows = [row for heart, topics in hearts if (row := heart.due(consumer, topics))]
    if not rows:
        return
    table = hearts[0][0].table  # one schema for the whole group
    values = sql.SQL(", ").join(sql.SQL("(%s, %s, %s, %s, now())") for _ in rows)
    with conn.transaction():
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (projection, instance, member_id, partitions, heartbeat_at)"
                " VALUES {} ON CONFLICT (projection, instance) DO UPDATE"
                " SET member_id = EXCLUDED.member_id, partitions = EXCLUDED.partitions,"
                " heartbeat_at = now()"
            ).format(table, values),
            [value for row in rows for value in row],
        )


def _member_id(consumer: KafkaConsumer) -> str:
    """The consumer-group member id, for operators (kafka-python keeps it private)."""
    generation = getattr(getattr(consumer, "_coordinator", None), "_generation", None)
    return str(getattr(generation, "member_id", "") or "")
