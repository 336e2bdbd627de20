"""The per-journey series of what its runs saw: request phases summed, requests counted, Web Vitals.

Counters with a series per phase, not per request or bucket: ``rate(synthetic_http_phase_seconds_total[5m]) /
ignoring(phase) group_left rate(synthetic_http_requests_total[5m])`` is a journey's mean time per request in
each phase. A journey's series appear with its first request (or, for vitals, its first page).

Usage::

    series = ObservedSeries()
    series.observe(journey_result)
    registry.register(series)        # synthetic_http_phase_seconds_total, synthetic_http_requests_total, ...
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from runner.handoff.observations import PHASES, VITALS
from runner.handoff.results import JourneyResult

PHASE_HELP = (
    "Seconds the journey's requests through the http fixture spent in each phase, summed: resolve, connect, tls, "
    "processing (until the answer's first byte), transfer (blackbox_exporter's phases)."
)
REQUESTS_HELP = "Requests the journey made through the http fixture (each hop of a redirect counts)."
VITAL_HELP = (
    "The Core Web Vitals of the browser journey's last run, the worst of its pages: lcp, fcp, ttfb and inp in "
    "seconds, cls without a unit."
)


class _Journey:
    __slots__ = ("phases", "requests", "vitals")

    def __init__(self) -> None:
        self.requests = 0
        self.phases = [0.0 for _ in PHASES]
        self.vitals: dict[str, float] = {}


class ObservedSeries:
    """Request phases and Web Vitals per journey, as plain numbers turned into families when scraped."""

    def __init__(self) -> None:
        self._journeys: dict[str, _Journey] = {}
        self._lock = threading.Lock()

    def observe(self, result: JourneyResult) -> None:
        """One run: its requests' phases added, its vitals (if it has a page) the journey's last."""
        observed = result.observed
        if not observed and result.journey not in self._journeys:
            return
        with self._lock:
            state = self._journeys.setdefault(result.journey, _Journey())
            state.requests += observed.request_count
            for index, seconds in enumerate(observed.phase_seconds):
                state.phases[index] += seconds
            state.vitals = dict(observed.vitals)

    def keep_only(self, journeys: set[str]) -> None:
        """Drop the series of every journey not in ``journeys``."""
        with self._lock:
            for gone in self._journeys.keys() - journeys:
                del self._journeys[gone]

    def describe(self) -> Iterator[Metric]:
        yield CounterMetricFamily("synthetic_http_phase_seconds", PHASE_HELP, labels=["journey", "phase"])
        yield CounterMetricFamily("synthetic_http_requests", REQUESTS_HELP, labels=["journey"])
        yield GaugeMetricFamily("synthetic_browser_web_vital", VITAL_HELP, labels=["journey", "vital"])

    def collect(self) -> Iterator[Metric]:
        phases, requests, vitals = self.describe()
        with self._lock:
            for journey, state in self._journeys.items():
                if state.requests:
                    requests.add_metric([journey], state.requests)  # type: ignore[attr-defined]
                    for phase, seconds in zip(PHASES, state.phases, strict=True):
                        phases.add_metric([journey, phase], seconds)  # type: ignore[attr-defined]
                for vital in VITALS:
                    if vital in state.vitals:
                        vitals.add_metric([journey, vital], state.vitals[vital])  # type: ignore[attr-defined]
        yield from (phases, requests, vitals)
