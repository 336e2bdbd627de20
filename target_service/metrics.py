"""The service's own request metrics: the post's ``http_request_duration`` histogram, with bounded labels."""

from __future__ import annotations

import time

from flask import Flask, Response, g, request
from prometheus_client import CollectorRegistry, Histogram

# Fine enough for millisecond latencies, wide enough for the multi-second faults.
DEFAULT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED_URL = "<unmatched>"


def instrument(app: Flask, registry: CollectorRegistry) -> Histogram:
    """Observe every request's duration by method, route template and status code."""
    histogram = Histogram(
        "http_request_duration",
        "Time the service took to answer a request, in seconds, by route template.",
        ["method", "url", "code"],
        buckets=DEFAULT_BUCKETS,
        registry=registry,
    )

    @app.before_request
    def _start_timer() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        started = g.get("request_started")
        if started is not None:
            # The route template, never the raw URL: one series per route, not per id or query string.
            url = request.url_rule.rule if request.url_rule is not None else UNMATCHED_URL
            histogram.labels(request.method, url, str(response.status_code)).observe(time.perf_counter() - started)
        return response

    return histogram
