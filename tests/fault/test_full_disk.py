"""PostgreSQL's data volume fills up under a running shop, then space is freed.

The data lives on a small filesystem the test makes (a size-limited tmpfs, mounted as
root, holding a tablespace that is the database's default), and a ballast file fills it
until writes fail. Commands answer 503 STORAGE_FULL with Retry-After (never a 500), and no
event of a refused command is stored; projectors pause and retry (nothing is
dead-lettered for it); the relay keeps its checkpoint. Freed, everything resumes without
an operator: the refused command's retry with its key succeeds once, and every read model
equals a replay of the event store.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import psycopg
import pytest

import eventshop.operations.status as operations
from contracts.readmodels import SOURCES
from eventshop.embedded import EmbeddedPostgres
from tests.support.events import events_mentioning
from tests.support.stack import Servers, eventually, running_stack

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("mount") is None, reason="mounting a tmpfs needs root"
)


@contextlib.contextmanager
def small_volume(size_mb: int) -> Iterator[Path]:
    where = Path(tempfile.mkdtemp(prefix="eventshop-small-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}M", "tmpfs", where], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", where], check=False)
        shutil.rmtree(where, ignore_errors=True)


@contextlib.contextmanager
def postgres_on(volume: Path) -> Iterator[str]:
    """Its own server (the session's is shared), whose default tablespace is ``volume``."""
    data = Path(tempfile.mkdtemp(prefix="eventshop-fulldisk-"))
    postgres = EmbeddedPostgres(data / "pg")
    try:
        url = postgres.start()
        owner = (data / "pg").stat()
        space = volume / "space"
        space.mkdir()
        os.chown(space, owner.st_uid, owner.st_gid)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"CREATE TABLESPACE small LOCATION '{space}'")
            conn.execute("ALTER DATABASE postgres SET default_tablespace = 'small'")
        yield url
    finally:
        postgres.stop()
        shutil.rmtree(data, ignore_errors=True)


def fill(volume: Path) -> Path:
    """Write a ballast file until the filesystem refuses another byte."""
    ballast = volume / "ballast"
    with ballast.open("wb") as out:
        chunk = b"\0" * 65536
        while True:
            try:
                out.write(chunk)
                out.flush()
            except OSError as error:
                assert error.errno == errno.ENOSPC
                break
    return ballast


def test_a_full_disk_refuses_commands_clearly_and_everything_resumes_when_freed(
    kafka_bootstrap: str,
) -> None:
    with (
        small_volume(24) as volume,
        postgres_on(volume) as url,
        running_stack(Servers(url, kafka_bootstrap)) as stack,
    ):
        relay = stack.start_relay()
        stack.start_projectors()

        def create(sku: str, key: str) -> tuple[int, str | None, str | None]:
            answer = stack.admin.post(
                "/products",
                json={"sku": sku, "title": "Disk", "description": "x" * 2000, "price": 100},
                headers={"Idempotency-Key": key},
            )
            code = answer.json().get("code") if answer.status_code >= 400 else None
            return answer.status_code, code, answer.headers.get("Retry-After")

        assert create(f"F-{uuid4().hex[:8]}", uuid4().hex)[0] == 201
        ballast = fill(volume)
        refused: tuple[str, str] | None = None
        for _ in range(2000):  # pages with room left take a few more rows first
            sku, key = f"F-{uuid4().hex[:8]}".upper(), uuid4().hex
            status, code, retry_after = create(sku, key)
            assert status in (201, 503), (status, code)
            if status == 503:
                assert (code, retry_after) == ("STORAGE_FULL", "30")
                refused = (sku, key)
                break
        assert refused is not None, "the full volume never refused a command"
        assert events_mentioning(stack.settings, refused[0]) == 0  # nothing half written
        checkpoint = operations.relay_status(stack.settings)["checkpoint_notification_id"]
        time.sleep(3)  # full for a while: the projectors meet it, pause and try again
        for name in SOURCES:
            assert stack.positions(name)["dead_lettered"] == 0, name
        assert operations.relay_status(stack.settings)["checkpoint_notification_id"] >= checkpoint

        ballast.unlink()  # space again
        status, _, _ = create(*refused)
        assert status == 201
        assert create(*refused)[0] == 201  # the same key again: the first result, once
        assert events_mentioning(stack.settings, refused[0]) == 2  # the product and its claim

        def caught_up() -> bool:
            rows = operations.projections(stack.settings, partitions=True)
            models = [r for r in rows if r["projection"] in SOURCES]
            return all(r["lag_events"] == 0 and r["relay_backlog"] == 0 for r in models)

        eventually(caught_up, timeout=60)
        assert operations.relay_status(stack.settings)["checkpoint_notification_id"] > checkpoint
        assert relay.stats.republishes == 0
        for name in SOURCES:
            assert stack.positions(name)["dead_lettered"] == 0, name
            report = operations.verify(stack.settings, name)
            assert report.equal, (name, report)
