"""The service's log output: one JSON object a line, its request lines and library records alike."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from target_service import ServiceConfig, create_app, logs
from target_service.faults import NO_FAULTS
from tests.target_service.test_tracecontext import SPAN_ID, TRACE_ID, TRACEPARENT


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """``logs.configure`` on a string, with structlog and the root logger put back afterwards."""
    saved_config = structlog.get_config()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    propagator_level = logging.getLogger("opentelemetry").level
    stream = io.StringIO()
    logs.configure(stream)
    yield stream
    structlog.configure(**saved_config)
    root.handlers, root.level = saved_handlers, saved_level
    logging.getLogger("opentelemetry").setLevel(propagator_level)


def json_lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_request_line_is_json_with_trace_id_span_id_level_logger_and_timestamp(stream: io.StringIO) -> None:
    service = create_app(ServiceConfig(faults=NO_FAULTS)).test_client()
    service.put("/admin/faults", json={"error_rate": 1, "status_codes": [500]})
    service.post("/reservations", json={"username": "a"}, headers={"traceparent": TRACEPARENT})
    line = json_lines(stream)[-1]
    assert {key: line[key] for key in ("event", "level", "logger", "status", "trace_id", "span_id")} == {
        "event": "request",
        "level": "info",
        "logger": "target_service.access",
        "status": 500,
        "trace_id": TRACE_ID,
        "span_id": SPAN_ID,
    }
    assert str(line["timestamp"]).endswith("Z")


def test_a_library_traceback_stays_on_one_json_line(stream: io.StringIO) -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("target_service.app").exception("Exception on /reservations [POST]")
    [line] = json_lines(stream)
    assert line["logger"] == "target_service.app" and line["level"] == "error"
    assert "RuntimeError: boom" in str(line["exception"])


def test_a_malformed_tracestate_adds_no_warning_line(stream: io.StringIO) -> None:
    service = create_app(ServiceConfig(faults=NO_FAULTS)).test_client()
    service.get("/healthz", headers={"traceparent": TRACEPARENT, "tracestate": "!!not=a,,valid list"})
    assert [(line["event"], line["trace_id"]) for line in json_lines(stream)] == [("request", TRACE_ID)]
