"""A PostgreSQL for the suite or a bench: the one an environment variable names, else an
embedded one started for the duration (as ``eventshop run`` does)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from eventshop.embedded import EmbeddedPostgres


@contextmanager
def postgres_from(variable: str) -> Iterator[str]:
    """Yields a database URL: ``$variable`` if set, else an embedded server's."""
    external = os.environ.get(variable)
    if external:
        yield external
        return
    with own_postgres() as (_, url):
        yield url


@contextmanager
def own_postgres(prefix: str = "eventshop-pg-") -> Iterator[tuple[EmbeddedPostgres, str]]:
    """An embedded server of the caller's own, started, and its URL, in a data directory
    that goes with it: for a test that kills its database, or needs it apart from the
    session's shared server."""
    from eventshop.embedded import EmbeddedPostgres

    data_dir = Path(tempfile.mkdtemp(prefix=prefix))
    postgres = EmbeddedPostgres(data_dir / "pg")
    try:
        yield postgres, postgres.start()
    finally:
        postgres.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
