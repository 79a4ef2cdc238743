"""Looking into the event store from outside, as fault tests and the chaos bench do."""

from __future__ import annotations

import httpx2
import psycopg
from psycopg import sql

from eventshop.settings import Settings
from write_side.persistence.migrations import EVENTS_TABLE


def events_mentioning(settings: Settings, text: str) -> int:
    """Stored events whose state contains ``text`` (a unique SKU or reason: one command's
    events), counted in the event store."""
    with psycopg.connect(settings.database_url or "") as conn:
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM {} WHERE position(%s::bytea in state) > 0").format(
                sql.Identifier(settings.event_schema, EVENTS_TABLE)
            ),
            (text.encode(),),
        ).fetchone()
    return int(row[0]) if row else 0


def ready(url: str) -> bool:
    """Whether ``url`` (a /readyz) answers 200 now."""
    try:
        return httpx2.get(url, timeout=1).status_code == 200
    except httpx2.HTTPError:
        return False
