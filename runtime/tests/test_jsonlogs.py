from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from rapport import jsonlogs


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    out = io.StringIO()
    jsonlogs.configure("identity", "DEBUG", stream=out)
    yield out
    root.handlers[:] = before[0]
    root.setLevel(before[1])


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_one_json_object_per_line(stream: io.StringIO) -> None:
    logging.getLogger("rapport.test").info(
        "resolved %d identifiers", 3, extra={"customer": "c_1", "count": 3}
    )
    [record] = lines(stream)
    assert record["message"] == "resolved 3 identifiers"
    assert (record["level"], record["logger"], record["service"]) == (
        "INFO",
        "rapport.test",
        "identity",
    )
    assert record["time"].endswith("Z")
    assert (record["customer"], record["count"]) == ("c_1", 3)
    assert "trace_id" not in record


def test_personal_data_is_redacted_and_unknown_extras_dropped(stream: io.StringIO) -> None:
    log = logging.getLogger("rapport.test")
    log.warning("rejected %s", "Alice.Smith+x@example.co.uk", extra={"email": "a@b.c"})
    log.warning("call +33 6 12 34 56 78 or 555-123-4567 now")
    log.info("port 50051 has 12 items")
    first, second, third = lines(stream)
    assert first["message"] == "rejected [email]"
    assert "email" not in first
    assert "example" not in json.dumps(first)
    assert second["message"] == "call [phone] or [phone] now"
    assert third["message"] == "port 50051 has 12 items"


def test_exception_text_is_redacted(stream: io.StringIO) -> None:
    try:
        raise ValueError("bad bob@example.com")
    except ValueError:
        logging.getLogger("rapport.test").exception("failed")
    [record] = lines(stream)
    assert "ValueError: bad [email]" in record["exception"]


def test_configure_is_idempotent(stream: io.StringIO) -> None:
    jsonlogs.configure("identity", "INFO", stream=stream)
    logging.getLogger("rapport.test").info("once")
    assert len(lines(stream)) == 1


def test_trace_ids_when_span_active(stream: io.StringIO) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    tracer = TracerProvider().get_tracer("test")  # local provider: no global state
    with tracer.start_as_current_span("work") as span:
        logging.getLogger("rapport.test").info("inside")
    [record] = lines(stream)
    assert record["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert len(record["span_id"]) == 16


def test_text_format() -> None:
    out = io.StringIO()
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    try:
        jsonlogs.configure("identity", "INFO", "text", stream=out)
        logging.getLogger("rapport.test").info("hello x@y.io", extra={"count": 2})
    finally:
        root.handlers[:] = before[0]
        root.setLevel(before[1])
    assert "hello [email] [count=2]" in out.getvalue()


def test_http_client_request_lines_stay_out_of_the_logs(stream: io.StringIO) -> None:
    logging.getLogger("httpx").info("HTTP Request: GET https://sms.example/send?To=%2B447700900123")
    logging.getLogger("httpx").warning("connection pool is full")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 and "connection pool is full" in lines[0]


def test_a_rule_helper_failing_is_not_logged_by_the_rule_engine(stream: io.StringIO) -> None:
    """The caller answers a failed helper (a rule error); the engine's own warning, one
    per customer and quoting the helper's message (a trait's value), is not logged.
    (An error of the engine's own still is.)"""
    import cel

    def days_until(value: str) -> int:
        raise ValueError(f"{value!r} is not a date")

    context = cel.Context()
    context.add_function("days_until", days_until)
    with pytest.raises(RuntimeError):
        cel.evaluate("days_until('1990-13-45') > 1", context)
    assert [r for r in lines(stream) if r["logger"] == "cel"] == []
