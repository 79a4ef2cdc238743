"""Log lines: one JSON object each, with the request's id, and no secret in them."""

from __future__ import annotations

import io
import logging

import orjson
import structlog

from eventshop.logs import formatter


def logged(line: str, *args: object, for_terminal: bool = False, **bound: str) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(for_terminal=for_terminal))
    logger = logging.getLogger(f"eventshop.test.{id(stream)}")
    logger.propagate = False
    logger.addHandler(handler)
    with structlog.contextvars.bound_contextvars(**bound):
        logger.warning(line, *args)
    return stream.getvalue()


def test_a_line_is_one_json_object_with_the_fields_and_ids_operators_filter_on() -> None:
    out = logged("order %s expired", "o-1", request_id="abc")
    assert out.count("\n") == 1
    line = orjson.loads(out)
    assert line["event"] == "order o-1 expired"
    assert line["level"] == "warning"
    assert line["logger"].startswith("eventshop.test.")
    assert line["request_id"] == "abc"
    assert line["timestamp"].endswith("Z")


def test_secrets_are_redacted_in_the_message_and_in_bound_fields() -> None:
    out = logged(
        "login failed: password=hunter2 Authorization: Bearer eyJhbGciOi.eyJzdWIi.sig",
        note="token=s3cr3t",
    )
    assert "hunter2" not in out and "eyJhbGciOi" not in out and "s3cr3t" not in out
    assert "[redacted]" in orjson.loads(out)["event"]


def test_on_a_terminal_the_line_is_for_people() -> None:
    out = logged("relay active", for_terminal=True, request_id="abc")
    assert not out.startswith("{")
    assert "relay active" in out and "request_id=abc" in out


def test_fields_given_as_extra_are_fields_of_the_line() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(for_terminal=False))
    logger = logging.getLogger("eventshop.test.extra")
    logger.propagate = False
    logger.addHandler(handler)
    logger.warning("order expired", extra={"correlation_id": "place-1"})
    assert orjson.loads(stream.getvalue())["correlation_id"] == "place-1"
