"""The service's own view of each request: the post's ``http_request_duration`` histogram and a log line.

Both carry the caller's trace id (W3C ``traceparent``) when there is one: the log line as ``trace_id`` and
``span_id``, the histogram as an exemplar, which only the OpenMetrics exposition shows.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from flask import Flask, Response, g, request
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, choose_encoder, generate_latest
from prometheus_client.registry import Collector

from target_service.logs import ACCESS_LOGGER, get_logger
from target_service.tracecontext import caller_span

# Fine enough for millisecond latencies, wide enough for the multi-second faults.
DEFAULT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED_URL = "<unmatched>"
Encoder = Callable[[Collector], bytes]


def instrument(app: Flask, registry: CollectorRegistry) -> Histogram:
    """Observe every request's duration by method, route template and status code, and log it."""
    histogram = Histogram(
        "http_request_duration",
        "Time the service took to answer a request, in seconds, by route template.",
        ["method", "url", "code"],
        buckets=DEFAULT_BUCKETS,
        registry=registry,
    )
    log = get_logger(ACCESS_LOGGER)

    @app.before_request
    def _start_timer() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        started = g.get("request_started")
        if started is None:
            return response
        duration_seconds = time.perf_counter() - started
        caller = caller_span(request.headers)
        # The route template, never the raw URL: one series per route, not per id or query string.
        url = request.url_rule.rule if request.url_rule is not None else UNMATCHED_URL
        exemplar = {"trace_id": caller.trace_id} if caller else None
        histogram.labels(request.method, url, str(response.status_code)).observe(duration_seconds, exemplar)
        log.info(
            "request",
            method=request.method,
            url=url,
            path=request.path,
            status=response.status_code,
            duration_seconds=round(duration_seconds, 6),
            trace_id=caller.trace_id if caller else None,
            span_id=caller.span_id if caller else None,
        )
        return response

    return histogram


def exposition(accept: str) -> tuple[Encoder, str]:
    """The encoder and content type for a scrape: OpenMetrics (with exemplars) when asked for, else classic text."""
    try:
        return choose_encoder(accept)
    except TypeError:
        # prometheus_client compares a non-numeric "version=" with numbers; a bad header still gets metrics.
        return generate_latest, CONTENT_TYPE_PLAIN_0_0_4
