"""Where each projection is, per partition, judged from outside the projector.

For operators (GET /projections, `eventshop projections status`, the query API's
metrics). Lag in events is what the relay got acknowledged on the partition (its
checkpoint, written by the relay) minus what the projection committed; the relay's own
backlog (stored events not yet published) is shown beside it. Owners come from the
instances' heartbeats: a partition nobody alive claims is ``down``; a relay whose
heartbeat is old is ``relay down``; lag that has not moved for ``STALLED_AFTER_SECONDS``
is ``stalled``. A dead projector or relay shows within ``STALE_AFTER_SECONDS``.
"""

from __future__ import annotations

from typing import Any

from psycopg import Connection, sql
from psycopg.rows import dict_row

from contracts.bookkeeping import (
    INSTANCES_TABLE,
    PARKED_TABLE,
    POSITIONS_TABLE,
    RELAY_STATE_FUNCTION,
)
from contracts.reactions import REACTOR_SOURCES
from contracts.readmodels import SOURCES
from contracts.rows import ProjectionPartition
from contracts.topics import PARTITIONS, topic_name

#: A heartbeat older than this means the instance (or the relay) is gone.
STALE_AFTER_SECONDS = 6
#: Lag with no progress for this long is reported stalled.
STALLED_AFTER_SECONDS = 10

_STATUS = """
WITH relay AS (SELECT * FROM {relay_state}()),
expected AS (
    SELECT e.projection, e.topic, g.partition
    FROM unnest(%(projections)s::text[], %(topics)s::text[]) AS e(projection, topic),
         generate_series(0, %(partitions)s - 1) AS g(partition)),
positions AS (
    SELECT projection, topic, partition, notification_id, applied, duplicates, skipped,
           dead_lettered, rewinds, relay_epoch, kafka_offset, updated_at
    FROM {positions}
    UNION ALL
    SELECT e.projection, e.topic, e.partition, 0, 0, 0, 0, 0, 0, 0, -1, now()
    FROM expected e
    WHERE NOT EXISTS (SELECT 1 FROM {positions} p WHERE p.projection = e.projection
                      AND p.topic = e.topic AND p.partition = e.partition)),
owners AS (
    SELECT DISTINCT ON (projection, held) projection, held, instance, member_id, heartbeat_at
    FROM {instances}, unnest(partitions) AS held
    WHERE heartbeat_at > now() - make_interval(secs => %(stale)s)
    ORDER BY projection, held, heartbeat_at DESC),
counted AS (
    SELECT p.*,
           CASE WHEN p.relay_epoch < r.republished  -- nothing of the republished log read yet
                THEN coalesce((r.offsets ->> (p.topic || ':' || p.partition))::bigint, -1) + 1
                ELSE greatest(coalesce((r.offsets ->> (p.topic || ':' || p.partition))::bigint,
                                       -1) - p.kafka_offset, 0) END AS behind,
           r.backlog, r.heartbeat_at AS relay_heartbeat_at, r.blocked_type
    FROM positions p CROSS JOIN relay r)
SELECT c.projection, c.topic, c.partition, c.notification_id AS position,
       c.behind AS lag_events, c.backlog AS relay_backlog,
       CASE WHEN c.behind > 0 OR c.backlog > 0
            THEN extract(epoch FROM now() - c.updated_at) ELSE 0 END AS lag_seconds,
       c.applied, c.duplicates, c.skipped, coalesce(k.parked, 0) AS parked, c.dead_lettered,
       coalesce(k.held_letters, 0) AS held_letters, coalesce(k.upgrades, 0) AS needs_upgrade,
       k.upgrade_types, c.rewinds, c.relay_epoch,
       o.instance AS owner, o.member_id, o.heartbeat_at,
       CASE WHEN coalesce(k.upgrades, 0) > 0 THEN 'needs upgrade'
            WHEN o.instance IS NULL THEN 'down'
            WHEN c.blocked_type IS NOT NULL THEN 'relay blocked'
            WHEN c.relay_heartbeat_at IS NULL
                 OR c.relay_heartbeat_at < now() - make_interval(secs => %(stale)s)
            THEN 'relay down'
            WHEN c.behind > 0 AND c.updated_at < now() - make_interval(secs => %(stalled)s)
            THEN 'stalled' ELSE 'live' END AS state,
       c.updated_at
FROM counted c
LEFT JOIN owners o ON o.projection = c.projection AND o.held = c.topic || ':' || c.partition
LEFT JOIN (SELECT projection, topic, partition, count(*) AS parked,
                  count(*) FILTER (WHERE reason = 'dead_letter') AS held_letters,
                  count(*) FILTER (WHERE reason = 'needs_upgrade') AS upgrades,
                  string_agg(DISTINCT event_type, ', ' ORDER BY event_type)
                    FILTER (WHERE reason = 'needs_upgrade') AS upgrade_types
           FROM {parked} GROUP BY projection, topic, partition) k
  ON k.projection = c.projection AND k.topic = c.topic AND k.partition = c.partition
ORDER BY c.projection, c.topic, c.partition
"""


def projection_status(
    conn: Connection[Any], schema: str, topic_prefix: str = ""
) -> list[ProjectionPartition]:
    """Every partition of every topic each read model and reactor intake reads (also one
    no consumer has ever written a position for: it shows its whole backlog as lag), and
    any other partition with a position row."""
    expected = [
        (name, topic_name(context, topic_prefix))
        for name, contexts in {**SOURCES, **REACTOR_SOURCES}.items()
        for context in contexts
    ]
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            sql.SQL(_STATUS).format(
                positions=sql.Identifier(schema, POSITIONS_TABLE),
                parked=sql.Identifier(schema, PARKED_TABLE),
                instances=sql.Identifier(schema, INSTANCES_TABLE),
                relay_state=sql.Identifier(schema, RELAY_STATE_FUNCTION),
            ),
            {
                "stale": STALE_AFTER_SECONDS,
                "stalled": STALLED_AFTER_SECONDS,
                "projections": [name for name, _ in expected],
                "topics": [topic for _, topic in expected],
                "partitions": PARTITIONS,
            },
        ).fetchall()
    return [ProjectionPartition.model_validate(row) for row in rows]
