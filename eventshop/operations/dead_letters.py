"""Dead letters: list them, replay them once the bug is fixed, or discard them.

A projector that cannot apply an event keeps it as a **sequenced dead letter**: the event
stays in its aggregate's history, in ``<read schema>.projection_parked``, and every later
event of that aggregate in that projection waits behind it; other aggregates go on. A copy
goes to ``<topic>.dlt`` as evidence. So:

- **replay** applies the letter with the code deployed now, then the events that waited
  behind it, in order (:mod:`projections.live.release`); a letter that fails again stays, with
  the new error;
- **discard** skips the letter on purpose (with a note) and applies the rest;
- a record on a dead-letter topic with no notification id never was an event (junk written
  to a topic): it can only be discarded;
- a letter on a dead-letter topic from before sequenced letters (its version was spent) is
  replayed the heavy way, by a blue/green rebuild of its projection.

Ids: ``<projection>:<notification id>`` for events, ``<dlt topic>:<partition>:<offset>``
for records known only from a dead-letter topic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import psycopg
from psycopg import sql

import eventshop.operations.dead_letter_topics as topics
from contracts.bookkeeping import RELEASES_TABLE, RESOLUTIONS_TABLE
from eventshop import wiring
from eventshop.operations.dead_letter_topics import DISCARDED, PENDING, REPLAYED, Letter, Outcome

__all__ = ["DISCARDED", "PENDING", "REPLAYED", "Letter", "Outcome", "UnknownLetterError"]
from eventshop.settings import Settings
from projections.live.release import DISCARD, REPLAY, DeadLetterRelease
from projections.projection import Projection
from projections.rebuild.rebuilder import RebuildResult
from projections.registry import PROJECTIONS


class UnknownLetterError(LookupError):
    """An id that names no pending dead letter."""


_PARKED = """
SELECT p.projection, p.notification_id, p.topic, p.partition, p.kafka_offset,
       coalesce(p.error_class, ''), coalesce(p.error, ''),
       (SELECT count(*) FROM {parked} q WHERE q.projection = p.projection
          AND q.aggregate_id = p.aggregate_id AND q.version > p.version)
FROM {parked} p WHERE p.reason = 'dead_letter' ORDER BY p.notification_id
"""


def letters(settings: Settings, *, include_resolved: bool = False) -> list[Letter]:
    """Sequenced letters first (oldest first), then records known only from the topics."""
    with psycopg.connect(wiring.database_url(settings)) as conn:
        parked = [
            Letter(f"{name}:{nid}", name, nid, f"{t}:{p}:{o}", cls, error, int(n), PENDING)
            for name, nid, t, p, o, cls, error, n in conn.execute(
                sql.SQL(_PARKED).format(
                    parked=sql.Identifier(settings.read_schema, "projection_parked")
                )
            )
        ]
        released = _releases(conn, settings.read_schema)
        resolved = _resolutions(conn, settings.read_schema)
    held = {(x.projection, x.notification_id) for x in parked}
    found = [*parked]
    seen_events: set[tuple[str, int]] = set()
    for record in topics.read(settings):
        letter = topics.letter(record)
        key = (letter.projection, letter.notification_id or 0)
        if letter.notification_id is not None and (key in held or key in seen_events):
            continue  # the sequenced letter stands for it (or an earlier copy did)
        if letter.notification_id is not None:
            seen_events.add(key)
        status = released.get(key) or resolved.get(letter.id, PENDING)
        found.append(
            replace(letter, id=_event_id(letter) if key in released else letter.id, status=status)
        )
    return [x for x in found if include_resolved or x.status == PENDING]


def _event_id(letter: Letter) -> str:
    return f"{letter.projection}:{letter.notification_id}"


def replay(
    settings: Settings,
    ids: list[str] | None,
    *,
    rebuild: Callable[[str], RebuildResult] | None = None,
    code: dict[str, Projection] | None = None,
) -> list[Outcome]:
    """Replay pending letters (``None``: all of them) with the deployed ``code``."""
    return _release_all(settings, _select(settings, ids), REPLAY, rebuild=rebuild, code=code)


def discard(
    settings: Settings,
    ids: list[str] | None,
    note: str = "",
    code: dict[str, Projection] | None = None,
) -> list[Outcome]:
    """Skip pending letters on purpose; what waited behind them is applied."""
    return _release_all(settings, _select(settings, ids), DISCARD, note=note, code=code)


def _release_all(
    settings: Settings,
    chosen: list[Letter],
    action: str,
    *,
    note: str = "",
    rebuild: Callable[[str], RebuildResult] | None = None,
    code: dict[str, Projection] | None = None,
) -> list[Outcome]:
    code = code or {**PROJECTIONS, wiring.MAIL_INTAKE.name: wiring.MAIL_INTAKE}
    outcomes: list[Outcome] = []
    sequenced = [x for x in chosen if x.kept == "parked"]
    on_topics = [x for x in chosen if x.kept != "parked"]
    with psycopg.connect(wiring.database_url(settings)) as conn:
        for letter in sequenced:
            assert letter.notification_id is not None
            applier = DeadLetterRelease(code[letter.projection], settings.read_schema)
            done = applier.release(conn, letter.notification_id, action)
            if done.released:
                _record_release(conn, settings.read_schema, letter, action, note)
                detail = f"{done.followers} waiting event(s) applied after it"
                outcomes.append(Outcome(letter.id, letter.projection, _past(action), detail))
            else:
                outcomes.append(Outcome(letter.id, letter.projection, "still failing", done.error))
    if action == DISCARD:
        topics.resolve(settings, on_topics, DISCARDED, note)
        return outcomes + [Outcome(x.id, x.projection, DISCARDED, note) for x in on_topics]
    return outcomes + topics.replay_by_rebuild(settings, on_topics, rebuild)


def _past(action: str) -> str:
    return REPLAYED if action == REPLAY else DISCARDED


def _record_release(
    conn: psycopg.Connection[Any], schema: str, letter: Letter, action: str, note: str
) -> None:
    conn.execute(
        sql.SQL(
            "INSERT INTO {} (projection, notification_id, resolution, note)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING"
        ).format(sql.Identifier(schema, RELEASES_TABLE)),
        (letter.projection, letter.notification_id, _past(action), note),
    )
    conn.commit()


def _select(settings: Settings, ids: list[str] | None) -> list[Letter]:
    pending = letters(settings)
    if ids is None:
        return pending
    by_id = {x.id: x for x in pending}
    unknown = [i for i in ids if i not in by_id]
    if unknown:
        raise UnknownLetterError(f"no pending dead letter with id {', '.join(unknown)}")
    return [by_id[i] for i in dict.fromkeys(ids)]


def _releases(conn: psycopg.Connection[Any], schema: str) -> dict[tuple[str, int], str]:
    rows = conn.execute(
        sql.SQL("SELECT projection, notification_id, resolution FROM {}").format(
            sql.Identifier(schema, RELEASES_TABLE)
        )
    ).fetchall()
    return {(name, int(nid)): status for name, nid, status in rows}


def _resolutions(conn: psycopg.Connection[Any], schema: str) -> dict[str, str]:
    rows = conn.execute(
        sql.SQL("SELECT dlt_topic, partition, kafka_offset, resolution FROM {}").format(
            sql.Identifier(schema, RESOLUTIONS_TABLE)
        )
    ).fetchall()
    return {f"{topic}:{partition}:{offset}": status for topic, partition, offset, status in rows}
