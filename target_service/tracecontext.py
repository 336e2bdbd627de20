"""The caller's W3C trace context: the trace a request belongs to and the span that sent it.

The service only reads the context (OpenTelemetry's propagator); it records and exports no spans of its own.

Usage::

    caller = caller_span(request.headers)  # None without a valid traceparent header
    trace_id = caller.trace_id if caller else None  # 32 lowercase hex digits
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from werkzeug.datastructures import Headers

# Stateless, so one serves every request and thread.
PROPAGATOR = TraceContextTextMapPropagator()


@dataclass(frozen=True, slots=True)
class CallerSpan:
    """The trace of a request and the caller's span (the request's parent), in lowercase hex."""

    trace_id: str
    span_id: str


def caller_span(headers: Headers | Mapping[str, str]) -> CallerSpan | None:
    """The caller's span from a ``traceparent`` header; None when it is missing or invalid (all-zero ids too)."""
    context = PROPAGATOR.extract(carrier=headers)
    span_context = trace.get_current_span(context).get_span_context()
    if not span_context.is_valid:
        return None
    return CallerSpan(trace.format_trace_id(span_context.trace_id), trace.format_span_id(span_context.span_id))
