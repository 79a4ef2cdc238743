"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from eventshop import wiring
from tests.support.reads import SyncReads
from tests.support.stack import Servers, isolated_settings


@pytest.fixture(scope="module")
def db(servers: Servers) -> Iterator[tuple[psycopg.Connection[Any], str]]:
    """A connection, and a freshly migrated read schema for the module alone."""
    settings = isolated_settings(servers)
    wiring.migrate(settings)
    with psycopg.connect(servers.database_url, autocommit=True) as conn:
        yield conn, settings.read_schema


@pytest.fixture(scope="module")
def reads(servers: Servers) -> Iterator[SyncReads]:
    """The query functions (async, as the query API runs them) called from a sync test."""
    with SyncReads(servers.database_url) as found:
        yield found
