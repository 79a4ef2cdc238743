"""The previous release's code, to run beside this one as a rolling deploy does.

``PREVIOUS_RELEASE`` is the last commit before the product events' v2 (one ``category``):
its contracts, handlers and write side are what old instances run during the deploy. It
is unpacked from the repository's own history (``git archive``) into a directory, and its
processes run with that directory first on ``PYTHONPATH``, with this checkout's installed
dependencies (the two releases' dependencies are the same).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
#: Products with one category string (ProductCreated v1), before issue 28's change.
PREVIOUS_RELEASE = "699e0065e98322264058fee169473856e524226a"


@contextmanager
def previous_release(into: Path) -> Iterator[Path]:
    """The previous release's files under ``into``; fails loudly without its commit."""
    archive = subprocess.run(
        ["git", "-C", str(REPOSITORY), "archive", "--format=tar", PREVIOUS_RELEASE],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        raise RuntimeError(
            f"the previous release ({PREVIOUS_RELEASE[:10]}) is not in this clone's history"
            f" (a shallow clone?): {archive.stderr.decode().strip()}"
        )
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    yield into


def run_release(
    code: Path, env: dict[str, str], *cli_args: str, log: Path
) -> subprocess.Popen[bytes]:
    """``eventshop <cli_args>`` as a process running the code under ``code``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "eventshop.cli", *cli_args],
            cwd=code,
            env={**env, "PYTHONPATH": os.pathsep.join([str(code), env.get("PYTHONPATH", "")])},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
