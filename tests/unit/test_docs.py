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


#: A backticked Python file followed by a backticked name: `path.py` `name`, `path.py` (`name`).
NAMED = re.compile(r"`([\w/]+\.py)`\s*\(?`([A-Za-z_][\w.]*)`")
PACKAGES = ("contracts", "write_side", "projections", "read_side", "http_edge", "eventshop")


def _defines(source: Path, name: str) -> bool:
    last = name.rsplit(".", 1)[-1]
    text = source.read_text()
    return bool(
        re.search(rf"^\s*(?:async\s+)?(?:def|class)\s+{re.escape(last)}\b", text, re.M)
        or re.search(rf"^\s*{re.escape(last)}\s*[:=]", text, re.M)
    )


def _candidates(path: str) -> list[Path]:
    """The file, or (a path relative to a package) the same path under each package."""
    found = [ROOT / path] + [p for package in PACKAGES for p in (ROOT / package).rglob(path)]
    return [p for p in found if p.is_file()]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_function_or_class_a_document_names_is_defined_where_it_says(doc: Path) -> None:
    wrong = []
    for path, name in NAMED.findall(doc.read_text()):
        files = _candidates(path)
        if not files or not any(_defines(f, name) for f in files):
            wrong.append(f"{path} {name}")
    assert not wrong, f"{doc.name} names what its file does not define: {wrong}"
