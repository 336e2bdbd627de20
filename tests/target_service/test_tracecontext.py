"""The caller's trace context is read from a valid W3C traceparent header, and from nothing else."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import Headers

from target_service.tracecontext import CallerSpan, caller_span

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{SPAN_ID}-01"


def test_a_valid_traceparent_gives_the_trace_id_and_the_callers_span_id() -> None:
    assert caller_span({"traceparent": TRACEPARENT}) == CallerSpan(TRACE_ID, SPAN_ID)


def test_an_unsampled_trace_is_still_named() -> None:
    assert caller_span({"traceparent": f"00-{TRACE_ID}-{SPAN_ID}-00"}) == CallerSpan(TRACE_ID, SPAN_ID)


def test_request_headers_are_matched_whatever_their_case() -> None:
    assert caller_span(Headers([("TraceParent", TRACEPARENT)])) == CallerSpan(TRACE_ID, SPAN_ID)


def test_a_malformed_tracestate_does_not_lose_the_trace_id() -> None:
    headers = {"traceparent": TRACEPARENT, "tracestate": "!!not=a,,valid list"}
    assert caller_span(headers) == CallerSpan(TRACE_ID, SPAN_ID)


@pytest.mark.parametrize(
    "traceparent",
    [
        "",
        "garbage",
        f"00-{TRACE_ID[:-1]}-{SPAN_ID}-01",  # trace id one digit short
        f"00-{TRACE_ID}0-{SPAN_ID}-01",  # and one too long
        f"00-{TRACE_ID}-{SPAN_ID[:-1]}-01",
        f"00-{'0' * 32}-{SPAN_ID}-01",  # all-zero trace id
        f"00-{TRACE_ID}-{'0' * 16}-01",  # all-zero span id
        f"00-{TRACE_ID.upper()}-{SPAN_ID}-01",
        f"ff-{TRACE_ID}-{SPAN_ID}-01",  # a forbidden version
        f"00-{TRACE_ID}-{SPAN_ID}-01-extra",  # version 00 has exactly four fields
        f"00-{TRACE_ID}-{SPAN_ID}-01" + " " * 600,  # past the propagator's length limit
    ],
)
def test_an_invalid_traceparent_gives_no_trace(traceparent: str) -> None:
    assert caller_span({"traceparent": traceparent}) is None


def test_no_traceparent_gives_no_trace() -> None:
    assert caller_span({}) is None
    assert caller_span(Headers()) is None
