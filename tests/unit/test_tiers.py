"""The unit tier needs no server: `make test-fast` runs on a machine with nothing running.

Its modules import no server support (tests/support/stack.py starts stacks on the session's
PostgreSQL and broker; the embedded servers are eventshop/embedded.py), and ask for none
of the session's server fixtures.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

UNIT = Path(__file__).parent
SERVER_MODULES = {"tests.support.stack", "eventshop.embedded", "tests.support.events"}
SERVER_FIXTURES = {"servers", "database_url", "kafka_bootstrap", "stack"}


@pytest.mark.parametrize("module", sorted(UNIT.glob("test_*.py")), ids=lambda p: p.name)
def test_a_unit_test_module_uses_no_server(module: Path) -> None:
    tree = ast.parse(module.read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not imported & SERVER_MODULES, imported & SERVER_MODULES
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            asked = {a.arg for a in node.args.args}
            assert not asked & SERVER_FIXTURES, (node.name, asked & SERVER_FIXTURES)
