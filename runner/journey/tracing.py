"""Trace context for journeys: one W3C trace per journey run, a span per step and per HTTP request.

Every run (every attempt of a retried journey too) starts a new trace; the ``http`` fixture's requests carry
its ``traceparent`` header, each with a span id of its own and the sampled flag, through OpenTelemetry's
propagator, so the service's logs and traces name the very run that failed. With the standard
``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``..._TRACES_ENDPOINT``) set, the spans are exported over OTLP/HTTP,
configured by the other standard ``OTEL_*`` variables; without it no span is made: each has its ids (the
``traceparent`` a request carries) and nothing else.

Usage::

    run = start_journey("test_a.py::test_b")           # at setup; the current context from now on
    with span("step pay"): ...                          # a child of the journey (or of the current step)
    inject(headers)                                     # traceparent of the current span
    run.fail("AssertionError: ..."); run.end()          # after teardown; run.trace_id is 32 hex digits
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
DEFAULT_SERVICE_NAME = "synthetic-monitor"
FLUSH_MILLIS = 2000  # a worker that ends waits at most this long for its spans to leave
MAX_STATUS_CHARS = 500
_PROPAGATOR = TraceContextTextMapPropagator()
SAMPLED = 0x01


class _PresetTraceIds(RandomIdGenerator):
    """Random ids, except that the next root span takes the trace id its journey run already chose."""

    def __init__(self) -> None:
        self.next_trace_id = 0

    def generate_trace_id(self) -> int:
        trace_id, self.next_trace_id = self.next_trace_id, 0
        return trace_id or super().generate_trace_id()


@dataclass
class _Process:
    pid: int
    provider: TracerProvider
    tracer: trace.Tracer
    ids: _PresetTraceIds
    exporting: bool


_current: _Process | None = None
_run: JourneyRun | None = None  # the journey running in this process: one at a time


def exporting(env: Mapping[str, str] = os.environ) -> bool:
    """Whether the standard variables ask for spans to be exported (an OTLP endpoint, not disabled)."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "none":
        return False
    return any(env.get(name, "").strip() for name in ENDPOINT_VARIABLES)


def _process() -> _Process:
    """This process's tracer; a forked worker makes its own (an exporter's thread does not survive a fork)."""
    global _current  # noqa: PLW0603  (one provider per process, made on first use)
    if _current is None or _current.pid != os.getpid():
        service = os.environ.get("OTEL_SERVICE_NAME", "").strip() or DEFAULT_SERVICE_NAME
        ids = _PresetTraceIds()
        provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}), id_generator=ids)
        export = exporting()
        if export:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: PLC0415

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        _current = _Process(os.getpid(), provider, provider.get_tracer("synthetic-monitor"), ids, export)
    return _current


def flush() -> None:
    """Send this process's finished spans on, waiting at most ``FLUSH_MILLIS``; nothing if none were made."""
    if _current is not None and _current.pid == os.getpid() and _current.exporting:
        _current.provider.force_flush(FLUSH_MILLIS)


class JourneyRun:
    """One run of a journey: its trace, current from its start until ``end``.

    The root is current from the start, so every span of the run is its child. Where nothing is exported it is
    a non-recording span (ids only): a journey that makes no request costs two random numbers, not a span.
    """

    def __init__(self, journey: str) -> None:
        global _run  # noqa: PLW0603
        self.journey = journey
        trace_id = random.getrandbits(128) or 1
        self.trace_id = trace.format_trace_id(trace_id)
        self.failure = ""
        process = _process()
        self.span: Span | None = None  # the recording root, where spans are exported
        if process.exporting:
            process.ids.next_trace_id = trace_id
            self.span = process.tracer.start_span(
                f"journey {journey}",
                context=otel_context.Context(),  # a new trace, whatever was current
                attributes={"synthetic.journey": journey},
            )
            self.root: Span = self.span
        else:
            self.root = _ids_only(trace_id, SAMPLED)
        self.context = trace.set_span_in_context(self.root, otel_context.Context())
        self._token = otel_context.attach(self.context)
        _run = self

    def fail(self, message: str) -> None:
        """The first failure of the run (a later phase's failure does not replace it)."""
        if not self.failure:
            self.failure = message

    def end(self) -> None:
        """End the run's span and make what was current before it current again."""
        global _run  # noqa: PLW0603
        if _run is self:
            _run = None
        otel_context.detach(self._token)
        if self.span is None:
            return
        self.span.set_attribute("synthetic.result", "failure" if self.failure else "success")
        if self.failure:
            self.span.set_status(Status(StatusCode.ERROR, self.failure[:MAX_STATUS_CHARS]))
        else:
            self.span.set_status(Status(StatusCode.OK))
        self.span.end()


def start_journey(journey: str) -> JourneyRun:
    """Start a new trace for one run of ``journey``."""
    return JourneyRun(journey)


@contextmanager
def span(name: str, kind: SpanKind = SpanKind.INTERNAL) -> Iterator[Span]:
    """A child of the current span, current inside the block; an exception marks it failed and goes on.

    Where no span is current (Playwright calls route handlers in a greenlet of its own, which has a context of
    its own), the parent is the running journey's root.
    """
    parent = None  # the current context
    if _run is not None and not trace.get_current_span().get_span_context().is_valid:
        parent = _run.context
    process = _process()
    if not process.exporting:  # ids only, for the traceparent: a span made to be dropped costs 0.05 ms
        outer = trace.get_current_span(parent).get_span_context()
        current = _ids_only(outer.trace_id, outer.trace_flags) if outer.is_valid else _ids_only(0, SAMPLED)
        token = otel_context.attach(trace.set_span_in_context(current, parent))
        try:
            yield current
        finally:
            otel_context.detach(token)
        return
    with process.tracer.start_as_current_span(name, parent, kind=kind, record_exception=True) as current:
        yield current


def _ids_only(trace_id: int, flags: int) -> Span:
    """A span that is its ids alone: in ``trace_id`` (a new trace for 0), with a new span id."""
    context = trace.SpanContext(
        trace_id or random.getrandbits(128) or 1, random.getrandbits(64) or 1, False, trace.TraceFlags(flags)
    )
    return trace.NonRecordingSpan(context)


def inject(headers: MutableMapping[str, str]) -> None:
    """Put the current span's ``traceparent`` into ``headers`` (nothing when no span is current)."""
    _PROPAGATOR.inject(headers)
