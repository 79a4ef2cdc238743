"""A PostgreSQL for the suite or a bench: the one an environment variable names, else an
embedded one started for the duration (as ``eventshop run`` does)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def postgres_from(variable: str) -> Iterator[str]:
    """Yields a database URL: ``$variable`` if set, else an embedded server's."""
    external = os.environ.get(variable)
    if external:
        yield external
        return
    from eventshop.embedded import EmbeddedPostgres

    data_dir = Path(tempfile.mkdtemp(prefix="eventshop-pg-"))
    postgres = EmbeddedPostgres(data_dir / "pg")
    try:
        yield postgres.start()
    finally:
        postgres.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
