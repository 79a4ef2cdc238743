"""How to reach a running ``eventshop run``: ``<data dir>/runtime.json``, for the operator CLI.

``eventshop run`` writes it (mode 0600: the URLs may carry credentials) once its servers
are up, and removes it when it stops. Every other command run in the same checkout, with
no ``EVENTSHOP_DATABASE_URL`` / ``EVENTSHOP_KAFKA_BOOTSTRAP_SERVERS`` of its own, uses the
servers it names, so ``eventshop projections list`` works beside ``make run`` with no
environment set. A file left by a run that died (its pid is gone) is ignored.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from eventshop.settings import Settings

FILE = "runtime.json"


def record(settings: Settings, **extra: str) -> Path:
    """Write how to reach this run's servers, readable by its owner only."""
    path = settings.data_dir / FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {
        "pid": os.getpid(),
        "database_url": settings.database_url,
        "kafka_bootstrap_servers": settings.kafka_bootstrap_servers,
        **extra,
    }
    partial = path.with_suffix(".tmp")
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(body, file)
    partial.replace(path)
    return path


def forget(settings: Settings) -> None:
    """Remove the file, if this process wrote it."""
    found = _read(settings.data_dir / FILE)
    if found is not None and found.get("pid") == os.getpid():
        (settings.data_dir / FILE).unlink(missing_ok=True)


def running(settings: Settings) -> dict[str, Any] | None:
    """What a live ``eventshop run`` in ``settings.data_dir`` recorded, else None."""
    found = _read(settings.data_dir / FILE)
    if found is None or not _alive(int(found.get("pid") or 0)):
        return None
    return found


def apply(settings: Settings) -> Settings:
    """``settings`` with the running stack's server URLs where none was configured."""
    if settings.database_url and settings.kafka_bootstrap_servers:
        return settings
    found = running(settings)
    if found is None:
        return settings
    return settings.model_copy(
        update={
            "database_url": settings.database_url or found.get("database_url"),
            "kafka_bootstrap_servers": settings.kafka_bootstrap_servers
            or found.get("kafka_bootstrap_servers"),
        }
    )


def _read(path: Path) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return found


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True
