"""Every request gets one log line carrying the caller's trace id, whatever the service answered."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask.testing import FlaskClient
from structlog.testing import capture_logs

from target_service import ServiceConfig, create_app
from target_service.faults import NO_FAULTS
from tests.target_service.test_tracecontext import SPAN_ID, TRACE_ID, TRACEPARENT

TRACED = {"traceparent": TRACEPARENT}
Line = MutableMapping[str, Any]


@pytest.fixture
def lines() -> Iterator[list[Line]]:
    """The structlog events logged while the test runs."""
    with capture_logs() as events:
        yield events


def client(**config: Any) -> FlaskClient:
    return create_app(ServiceConfig(faults=NO_FAULTS, **config)).test_client()


def request_lines(lines: list[Line]) -> list[Line]:
    return [line for line in lines if line["event"] == "request"]


def test_a_traced_request_logs_its_trace_id_and_the_callers_span_id(lines: list[Line]) -> None:
    response = client().post("/reservations", json={"username": "a"}, headers=TRACED)
    assert response.status_code == 200
    [line] = request_lines(lines)
    assert line["trace_id"] == TRACE_ID and line["span_id"] == SPAN_ID
    assert line["log_level"] == "info"
    assert [line[key] for key in ("method", "url", "path", "status")] == ["POST", "/reservations", "/reservations", 200]
    assert 0 <= line["duration_seconds"] < 5


def test_the_log_line_names_the_route_and_the_path(lines: list[Line]) -> None:
    client().get("/reservations/abc?secret=x", headers=TRACED)
    [line] = request_lines(lines)
    assert (line["url"], line["path"], line["status"]) == ("/reservations/<id>", "/reservations/abc", 404)
    assert "secret" not in repr(line)  # the query string stays out of the log


def test_an_untraced_request_logs_a_null_trace_id(lines: list[Line]) -> None:
    assert client().get("/healthz").status_code == 200
    [line] = request_lines(lines)
    assert line["trace_id"] is None and line["span_id"] is None


@pytest.mark.parametrize(
    "traceparent",
    [f"00-{TRACE_ID[:-2]}-{SPAN_ID}-01", f"00-{'0' * 32}-{SPAN_ID}-01", "00-not-a-trace-01"],
)
def test_a_bad_traceparent_is_served_and_logged_without_a_trace_id(lines: list[Line], traceparent: str) -> None:
    response = client().post("/reservations", json={"username": "a"}, headers={"traceparent": traceparent})
    assert response.status_code == 200
    [line] = request_lines(lines)
    assert line["trace_id"] is None and line["span_id"] is None and line["status"] == 200


@pytest.mark.parametrize("status", [500, 503, 400])
def test_an_injected_fault_still_logs_the_trace_id(lines: list[Line], status: int) -> None:
    service = client()
    service.put("/admin/faults", json={"error_rate": 1, "status_codes": [status]})
    assert service.post("/reservations", json={"username": "a"}, headers=TRACED).status_code == status
    line = request_lines(lines)[-1]
    assert (line["status"], line["trace_id"], line["span_id"]) == (status, TRACE_ID, SPAN_ID)


def test_a_401_still_logs_the_trace_id(lines: list[Line]) -> None:
    response = client(api_token="t0ken").get("/reservations/x", headers=TRACED)
    assert response.status_code == 401
    [line] = request_lines(lines)
    assert (line["status"], line["trace_id"]) == (401, TRACE_ID)


def test_unknown_paths_and_oversized_bodies_are_logged_with_the_trace_id(lines: list[Line]) -> None:
    service = client()
    service.get("/nope", headers=TRACED)
    service.post("/reservations", json={"username": "a", "pad": "x" * 100_000}, headers=TRACED)
    assert [(line["url"], line["status"], line["trace_id"]) for line in request_lines(lines)] == [
        ("<unmatched>", 404, TRACE_ID),
        ("/reservations", 413, TRACE_ID),
    ]


def test_concurrent_requests_each_log_their_own_trace_id(lines: list[Line]) -> None:
    service = client()
    trace_ids = [f"{n:032x}" for n in range(1, 201)]

    def get(trace_id: str) -> int:
        # The path names the trace id it was sent with, so a line with another request's id would show.
        traceparent = f"00-{trace_id}-{SPAN_ID}-01"
        return service.get(f"/reservations/{trace_id}", headers={"traceparent": traceparent}).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(get, trace_ids)) == {404}
    logged = request_lines(lines)
    assert sorted(line["trace_id"] for line in logged) == trace_ids
    assert all(line["path"] == f"/reservations/{line['trace_id']}" for line in logged)
