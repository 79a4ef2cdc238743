"""The record shape the applier consumes (shared by the applier and version tracking)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Incoming:
    """One Kafka record, as much of it as a projection needs."""

    topic: str
    partition: int
    offset: int
    headers: list[tuple[str, bytes]]
    value: bytes | None
