"""The operator CLI's failures as one line with a hint (a traceback only with --debug)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
from kafka import errors as kafka_errors

from eventshop import serving, wiring
from eventshop.embedded import EmbeddedNotInstalledError
from projections.groups import GroupSpecError
from projections.rebuild.rebuilder import RebuildRunningError
from projections.records import TableVersionMismatchError, UnreadableStoreError

DEBUG_HINT = "rerun with --debug for the traceback"
_MISSING_SCHEMA = (
    psycopg.errors.UndefinedTable,
    psycopg.errors.InvalidSchemaName,
    psycopg.errors.UndefinedFunction,
)


def explain(error: BaseException) -> tuple[str, int]:
    """(one line for stderr, exit code) for an error that ended a command."""
    for cause in _chain(error):
        found = _known(cause)
        if found is not None:
            return found
    return f"{type(error).__name__}: {_first_line(error)} ({DEBUG_HINT})", 1


def _known(error: BaseException) -> tuple[str, int] | None:
    if isinstance(
        error,
        wiring.NotConfiguredError
        | serving.PortInUseError
        | EmbeddedNotInstalledError
        | GroupSpecError,
    ):
        return str(error), 2
    if isinstance(error, RebuildRunningError | TableVersionMismatchError | UnreadableStoreError):
        wait = "; try again when it has finished" if isinstance(error, RebuildRunningError) else ""
        return f"{error}{wait}", 1
    if isinstance(error, _MISSING_SCHEMA):
        return f"schema missing: run `eventshop migrate` ({_first_line(error)})", 2
    if isinstance(error, psycopg.OperationalError):
        return (
            f"cannot reach PostgreSQL: {_first_line(error)} (is `eventshop run` running in"
            " this directory, or EVENTSHOP_DATABASE_URL right?)",
            2,
        )
    # kafka-python 3 has no NoBrokersAvailable: an unreachable bootstrap server is a
    # KafkaTimeoutError ("Unable to bootstrap from ...").
    if isinstance(error, kafka_errors.KafkaConnectionError | kafka_errors.KafkaTimeoutError):
        return (
            f"cannot reach Kafka: {error} (is the broker up, and"
            " EVENTSHOP_KAFKA_BOOTSTRAP_SERVERS right?)",
            2,
        )
    return None


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
