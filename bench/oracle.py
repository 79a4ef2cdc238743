"""After the load: wait for quiescence, then hold the run to the strict oracle.

Quiescent: the relay has published everything in the event store; every partition of
every consumer group (each read model and the mail intake, also a partition no consumer
ever took) is live with no lag; and the mail sender owes nothing more. Then:

- every read model against a replay of the event store, and the mail intake's effect
  records against the mail a replay owes (``eventshop.operations.status.verify``);
- the development mailbox holds each sent mail exactly once (a repeat is counted: it is
  allowed only where a case crosses the documented crash window, docs/operations.md);
- the answers the clients got (:func:`judge_answers`): a 503 only inside the fault window,
  each with Retry-After; every 4xx one the workload causes by design; no transport error
  (a hang past the client's timeout, a dropped connection) unless the case kills the
  process that served it.

Any difference, or no quiescence within the bound, is a failed run.
"""

from __future__ import annotations

import email
import email.policy
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

import eventshop.operations.status as operations
from bench.tally import Tally
from contracts.reactions import REACTOR_SOURCES
from contracts.readmodels import SOURCES
from eventshop.settings import Settings
from reactors import outbox

#: 4xx the workload causes on purpose, by ``op:status:code`` (none today: every customer
#: pays and cancels only its own placed orders, stock is plentiful, limits are off).
DESIGNED_4XX: frozenset[str] = frozenset()
#: After a fault ends, answers may still reflect it this long (a token read waits up to
#: its consistency bound while the pipeline catches up; a client retries a 503).
GRACE_SECONDS = 8.0


def quiet(settings: Settings) -> bool:
    if operations.relay_status(settings)["unpublished_notifications"]:
        return False
    rows = operations.projections(settings, partitions=True)
    caught_up = bool(rows) and all(
        r["state"] == "live" and r["lag_events"] == 0 and r["relay_backlog"] == 0 for r in rows
    )
    return caught_up and _mail(settings)["pending"] == 0


def quiesce(settings: Settings, bound: float) -> float | None:
    """Seconds until quiet, or None if not quiet within ``bound``."""
    started = time.monotonic()
    while time.monotonic() - started < bound:
        if quiet(settings):
            return round(time.monotonic() - started, 2)
        time.sleep(0.1)
    return None


def compare(settings: Settings) -> dict[str, Any]:
    """Every projection and intake against its replay: ``equal`` and, per table, rows."""
    models: dict[str, Any] = {}
    for name in (*SOURCES, *REACTOR_SOURCES):
        report = operations.verify(settings, name)
        models[name] = {
            "equal": report.equal,
            "lag_events": report.lag_events,
            "tables": {
                t.table: {"rows": t.live_rows, "replayed": t.rebuilt_rows, "equal": t.equal}
                for t in report.tables
            },
            "differing": [d for t in report.tables for d in t.differing][:5],
        }
    return {"equal": all(m["equal"] for m in models.values()), "models": models}


def mailbox(settings: Settings) -> dict[str, Any]:
    """Each mail the outbox says it sent, in the development mailbox exactly once."""
    with psycopg.connect(settings.database_url or "") as conn:
        sent = {
            str(key)
            for (key,) in conn.execute(
                sql.SQL("SELECT key FROM {}.mail_outbox WHERE state = 'sent'").format(
                    sql.Identifier(settings.read_schema)
                )
            )
        }
    delivered = Counter(_message_key(path) for path in (settings.data_dir / "mail").glob("*.eml"))
    return {
        "sent": len(sent),
        "missing": len(sent - set(delivered)),
        "repeats": sum(n - 1 for key, n in delivered.items() if key in sent and n > 1),
        "unowed": len(set(delivered) - sent),
    }


def check(settings: Settings, bound: float = 60.0, *, mail: bool = True) -> dict[str, Any]:
    settled = quiesce(settings, bound)
    result: dict[str, Any] = {"quiescent_after_s": settled}
    result |= compare(settings)
    result["mail"] = mailbox(settings) if mail else None
    delivered = not mail or (result["mail"]["missing"] == 0 and result["mail"]["unowed"] == 0)
    result["ok"] = settled is not None and result["equal"] and delivered
    return result


def judge_answers(
    tally: Tally, window: tuple[float, float] | None, *, transport_errors_allowed: bool
) -> dict[str, Any]:
    """What the clients saw, held to the strict oracle (``window``: the fault, monotonic)."""
    start, end = window or (0.0, 0.0)
    outside = [u for u in tally.unavailable if not start <= u.at <= end + GRACE_SECONDS]
    dropped = [t for t in tally.transport_error_at if not start <= t <= end + GRACE_SECONDS]
    undesigned = {k: n for k, n in tally.client_errors.items() if k not in DESIGNED_4XX}
    verdict = {
        "unavailable": len(tally.unavailable),
        "unavailable_by_code": dict(Counter(u.code for u in tally.unavailable)),
        "unavailable_by_op": dict(Counter(u.op for u in tally.unavailable)),
        "unavailable_outside_window": len(outside),
        "without_retry_after": sum(not u.retry_after for u in tally.unavailable),
        "client_errors": dict(tally.client_errors),
        "undesigned_4xx": undesigned,
        "transport_errors": dict(tally.transport_error_kinds),
        "transport_errors_outside_window": len(dropped),
    }
    verdict["ok"] = (
        not outside
        and not verdict["without_retry_after"]
        and not undesigned
        and not tally.unexpected
        and (not tally.transport_errors if not transport_errors_allowed else not dropped)
    )
    return verdict


def _mail(settings: Settings) -> dict[str, Any]:
    with psycopg.connect(settings.database_url or "") as conn:
        return outbox.summary(conn, settings.read_schema)


def _message_key(path: Path) -> str:
    """The outbox key a delivered mail's Message-ID carries (``<key@domain>``)."""
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    return str(message.get("Message-ID", "")).strip("<>").rsplit("@", 1)[0]
