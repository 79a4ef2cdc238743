"""Where each projection is, per partition: for operators (GET /projections)."""

from __future__ import annotations

from typing import Any

from psycopg import Connection, sql
from psycopg.rows import dict_row

from contracts.readmodels import PARKED_TABLE, POSITIONS_TABLE
from contracts.rows import ProjectionPartition

#: A projection with lag whose position has not moved for this long is reported stalled.
STALLED_AFTER_SECONDS = 60

_STATUS = """
SELECT p.projection, p.topic, p.partition, p.notification_id AS position,
       greatest(p.high_watermark - p.kafka_offset - 1, 0) AS lag_events,
       CASE WHEN p.high_watermark - p.kafka_offset - 1 > 0 AND p.last_published_at IS NOT NULL
            THEN extract(epoch FROM now() - p.last_published_at) ELSE 0 END AS lag_seconds,
       p.applied, p.duplicates, p.skipped, coalesce(k.parked, 0) AS parked, p.dead_lettered,
       coalesce(k.held_letters, 0) AS held_letters, p.rewinds, p.relay_epoch,
       CASE WHEN coalesce(k.upgrades, 0) > 0 THEN 'needs upgrade'
            WHEN p.high_watermark - p.kafka_offset - 1 > 0
                 AND p.updated_at < now() - make_interval(secs => %s)
            THEN 'stalled' ELSE 'live' END AS state,
       p.updated_at
FROM {positions} p
LEFT JOIN (SELECT projection, topic, partition, count(*) AS parked,
                  count(*) FILTER (WHERE reason = 'dead_letter') AS held_letters,
                  count(*) FILTER (WHERE reason = 'needs_upgrade') AS upgrades
           FROM {parked} GROUP BY projection, topic, partition) k
  USING (projection, topic, partition)
ORDER BY p.projection, p.topic, p.partition
"""


def projection_status(conn: Connection[Any], schema: str) -> list[ProjectionPartition]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            sql.SQL(_STATUS).format(
                positions=sql.Identifier(schema, POSITIONS_TABLE),
                parked=sql.Identifier(schema, PARKED_TABLE),
            ),
            (STALLED_AFTER_SECONDS,),
        ).fetchall()
    return [ProjectionPartition.model_validate(row) for row in rows]
