"""Rate limits shared by every replica: windowed counters in one UNLOGGED table.

Each key (``api:sub:<uuid>``, ``login-fail:<email>`` …) has one row: its hit count and
when its window ends. One statement counts a hit and answers the new count, so two API
processes can never both let the last allowed request through. A window starts at the
key's first hit (a fixed window per key; up to twice the limit can pass around a window
boundary, the usual price of fixed windows). UNLOGGED: counters need no crash safety,
and a crash forgives everyone, which is acceptable for limits.

The query API's role may not write tables; it calls :data:`HIT_FUNCTION`, a SECURITY
DEFINER function that can only count hits, so the role stays SELECT-only on data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from http_edge.liveness import checked_pool

COUNTERS_TABLE = "rate_limit_counters"
HIT_FUNCTION = "rate_limit_hit"

_DDL = [
    """CREATE UNLOGGED TABLE IF NOT EXISTS {schema}.{table} (
        key text PRIMARY KEY,
        hits integer NOT NULL,
        window_ends timestamptz NOT NULL)""",
    # amount 0 reads a count without adding to it (a lock-out check).
    """CREATE OR REPLACE FUNCTION {schema}.{function}(
        p_key text, p_window_seconds integer, p_amount integer,
        OUT hits integer, OUT reset_seconds double precision)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    DECLARE
        v_now timestamptz := clock_timestamp();
        v_ends timestamptz;
    BEGIN
        IF p_amount = 0 THEN
            SELECT c.hits, c.window_ends INTO hits, v_ends FROM {schema}.{table} c
            WHERE c.key = p_key AND c.window_ends > v_now;
            hits := coalesce(hits, 0);
        ELSE
            INSERT INTO {schema}.{table} AS c (key, hits, window_ends)
            VALUES (p_key, p_amount, v_now + make_interval(secs => p_window_seconds))
            ON CONFLICT (key) DO UPDATE SET
                hits = CASE WHEN c.window_ends <= v_now THEN EXCLUDED.hits
                            ELSE c.hits + EXCLUDED.hits END,
                window_ends = CASE WHEN c.window_ends <= v_now THEN EXCLUDED.window_ends
                                   ELSE c.window_ends END
            RETURNING c.hits, c.window_ends INTO hits, v_ends;
            IF random() < 0.001 THEN  -- now and then, forget windows long over
                DELETE FROM {schema}.{table} WHERE window_ends < v_now - interval '1 hour';
            END IF;
        END IF;
        reset_seconds := greatest(extract(epoch FROM coalesce(v_ends, v_now) - v_now), 0);
    END $$""",
    "REVOKE ALL ON FUNCTION {schema}.{function}(text, integer, integer) FROM PUBLIC",
]


def migrate_rate_limits(conn: psycopg.Connection[Any], schema: str, query_role: str) -> None:
    """Create the counters and let ``query_role`` count hits (and nothing else)."""
    names = {
        "schema": sql.Identifier(schema),
        "table": sql.Identifier(COUNTERS_TABLE),
        "function": sql.Identifier(HIT_FUNCTION),
    }
    for statement in _DDL:
        conn.execute(sql.SQL(statement).format(**names))
    conn.execute(
        sql.SQL(
            "GRANT EXECUTE ON FUNCTION {schema}.{function}(text, integer, integer) TO {role}"
        ).format(**names, role=sql.Identifier(query_role))
    )


@dataclass(frozen=True)
class Policy:
    """``limit`` hits per ``window_seconds`` per key; ``name`` is published in headers."""

    name: str
    limit: int
    window_seconds: int

    def header(self) -> str:
        return f'"{self.name}";q={self.limit};w={self.window_seconds}'


@dataclass(frozen=True)
class Count:
    hits: int
    reset_seconds: float


class PostgresRateLimiter:
    """Counts hits in PostgreSQL through the pool it is given (a short statement each)."""

    def __init__(self, pool: ConnectionPool[Any], schema: str) -> None:
        self.pool = pool
        self._statement = sql.SQL("SELECT hits, reset_seconds FROM {}(%s, %s, %s)").format(
            sql.Identifier(schema, HIT_FUNCTION)
        )

    @classmethod
    def with_own_pool(cls, database_url: str, schema: str, size: int = 4) -> PostgresRateLimiter:
        """A limiter with a small pool of its own (the command API has no other pool on the
        read schema), checked without a round trip per checkout (http_edge/liveness.py)."""
        return cls(checked_pool(database_url, size), schema)

    def hit(self, key: str, window_seconds: int, amount: int = 1) -> Count:
        with self.pool.connection() as conn:
            row = conn.execute(self._statement, (key, window_seconds, amount)).fetchone()
        assert row is not None
        return Count(int(row[0]), float(row[1]))

    def peek(self, key: str, window_seconds: int) -> Count:
        return self.hit(key, window_seconds, amount=0)
