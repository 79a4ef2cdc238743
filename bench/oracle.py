"""After the load: wait for quiescence, then compare every read model with a replay.

Quiescent: the relay has published everything in the event store and every partition of
every projection is live with no lag. Then each projection is verified
(``projections.verify``): rebuilt from the event store into a scratch schema, aligned to
the live positions, and compared table by table (row counts and an md5 over every row).
Any difference, or no quiescence within the bound, is a failed run.
"""

from __future__ import annotations

import time
from typing import Any

from contracts.readmodels import SOURCES
from eventshop import operations, wiring
from eventshop.settings import Settings
from projections.verify import verify


def quiet(settings: Settings) -> bool:
    if operations.relay_status(settings)["unpublished_notifications"]:
        return False
    rows = operations.projections(settings, partitions=True)
    return bool(rows) and all(
        r["state"] == "live" and r["lag_events"] == 0 and r["relay_backlog"] == 0 for r in rows
    )


def quiesce(settings: Settings, bound: float) -> float | None:
    """Seconds until quiet, or None if not quiet within ``bound``."""
    started = time.monotonic()
    while time.monotonic() - started < bound:
        if quiet(settings):
            return round(time.monotonic() - started, 2)
        time.sleep(0.1)
    return None


def compare(settings: Settings) -> dict[str, Any]:
    """Every projection against its replay: ``equal`` and, per table, rows and equality."""
    models: dict[str, Any] = {}
    for name in SOURCES:
        report = verify(wiring.rebuilder(settings, name))
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


def check(settings: Settings, bound: float = 60.0) -> dict[str, Any]:
    settled = quiesce(settings, bound)
    result: dict[str, Any] = {"quiescent_after_s": settled}
    result |= compare(settings)
    result["ok"] = settled is not None and result["equal"]
    return result
