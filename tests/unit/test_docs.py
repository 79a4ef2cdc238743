"""The docs name files that exist: every `path/like/this.py` in README.md and docs/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: A backticked repository path: a top-level folder of ours, then a file or folder.
PATH = re.compile(
    r"`((?:contracts|write_side|projections|read_side|http_edge|eventshop|bench|tests|docs)"
    r"/[\w./<>-]*)`"
)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_path_a_document_names_exists(doc: Path) -> None:
    named = PATH.findall(doc.read_text())
    assert named, f"{doc.name} names no path at all: is the pattern still right?"
    missing = []
    for found in named:
        # A pattern such as projections/<name>/: its parent must exist.
        path = found.split("<", 1)[0].rstrip("/")
        if not (ROOT / path).exists():
            missing.append(found)
    assert not missing, f"{doc.name} names paths the repository lacks: {missing}"
