"""The monitor's metrics: journey results and the numbers that show the monitor itself is working.

Usage::

    metrics = MonitorMetrics(CollectorRegistry(), buckets=DEFAULT_BUCKETS, interval_seconds=30)
    metrics.add_journeys(["test_a.py::test_b"])      # both result series exist at zero from now on
    metrics.record_cycle(cycle_report, finished_at=time.time(), duration_seconds=1.2)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

from runner.report import REASONS, CycleReport

RESULTS = ("success", "failure")
RUN_STATUSES = ("completed", "skipped", "error")


class MonitorMetrics:
    """Every metric the runner serves, in its own registry."""

    def __init__(
        self,
        registry: CollectorRegistry,
        buckets: Sequence[float],
        interval_seconds: float,
        timeout_seconds: float,
    ) -> None:
        self.registry = registry
        self.duration = Histogram(
            "synthetic_request_duration",
            "Duration of one journey (setup + call + teardown) in seconds, by result.",
            ["journey", "result"],
            buckets=buckets,
            registry=registry,
        )
        self.success = Gauge(
            "synthetic_journey_success",
            "1 if the journey's last run passed, 0 if it failed.",
            ["journey"],
            registry=registry,
        )
        self.failures = Counter(
            "synthetic_journey_failures",
            "Failed journey runs by reason: assertion, error, timeout or crash.",
            ["journey", "reason"],
            registry=registry,
        )
        self.runs = Counter(
            "synthetic_runs",
            "Cycles by status: completed, skipped (previous still running), error.",
            ["status"],
            registry=registry,
        )
        self.last_run = Gauge(
            "synthetic_last_run_timestamp_seconds", "Unix time the last cycle completed.", registry=registry
        )
        self.cycle_duration = Gauge(
            "synthetic_last_cycle_duration_seconds",
            "Wall time of the last completed cycle.",
            registry=registry,
        )
        self.collection_errors = Gauge(
            "synthetic_collection_errors",
            "Journey files that failed to load in the last cycle.",
            registry=registry,
        )
        self.journeys = Gauge("synthetic_journeys", "Journeys collected in the last cycle.", registry=registry)
        self.fixture_duration = Histogram(
            "synthetic_fixture_duration",
            "Seconds a fixture wider than one journey (class, module, package, session) took to set up or tear "
            "down; that time is not in any journey's duration.",
            ["fixture", "scope", "phase"],
            buckets=buckets,
            registry=registry,
        )
        self.over_cap = Gauge(
            "synthetic_journeys_over_cap",
            "Journeys collected in the last cycle but not run: beyond --max-journeys.",
            registry=registry,
        )
        Gauge("synthetic_interval_seconds", "Seconds between cycle starts.", registry=registry).set(interval_seconds)
        Gauge("synthetic_journey_timeout_seconds", "Seconds one journey may take.", registry=registry).set(
            timeout_seconds
        )
        for status in RUN_STATUSES:
            self.runs.labels(status)
        # process_start_time_seconds lets alert rules tell "no cycle yet" from "no cycle for a long time".
        ProcessCollector(registry=registry)
        self._known: set[str] = set()

    def add_journeys(self, journeys: Iterable[str]) -> None:
        """Create both result series of each new journey at zero, so rate() is defined from the first scrape."""
        for journey in journeys:
            if journey not in self._known:
                self._known.add(journey)
                for result in RESULTS:
                    self.duration.labels(journey, result)
                for reason in REASONS:
                    self.failures.labels(journey, reason)

    def forget_journeys_except(self, current: Iterable[str]) -> None:
        """Drop the series of journeys that are gone from a clean collection (deleted or renamed)."""
        for journey in self._known - set(current):
            self._known.discard(journey)
            for result in RESULTS:
                self.duration.remove(journey, result)
            for reason in REASONS:
                self.failures.remove(journey, reason)
            with contextlib.suppress(KeyError):
                self.success.remove(journey)

    def record_cycle(self, cycle: CycleReport, finished_at: float, duration_seconds: float) -> None:
        """One observation per executed journey, then the cycle's own numbers."""
        self.add_journeys([*cycle.collected, *(result.journey for result in cycle.results)])
        for result in cycle.results:
            self.duration.labels(result.journey, "success" if result.passed else "failure").observe(
                result.duration_seconds
            )
            self.success.labels(result.journey).set(1 if result.passed else 0)
            if result.reason is not None:
                self.failures.labels(result.journey, result.reason).inc()
        for timing in cycle.fixtures:
            self.fixture_duration.labels(timing.fixture, timing.scope, timing.phase).observe(timing.seconds)
        if not cycle.collection_errors:
            self.forget_journeys_except([*cycle.collected, *(result.journey for result in cycle.results)])
        self.collection_errors.set(len(cycle.collection_errors))
        self.journeys.set(len(cycle.collected))
        self.over_cap.set(cycle.over_cap)
        self.cycle_duration.set(duration_seconds)
        self.last_run.set(finished_at)
        self.runs.labels("completed").inc()

    def record_skipped(self, ticks: int = 1) -> None:
        """Ticks that found the previous cycle still running."""
        self.runs.labels("skipped").inc(ticks)

    def record_error(self, broken_files: int = 0) -> None:
        """A cycle in which the suite could not run at all (``broken_files``: a conftest.py that failed to load)."""
        self.runs.labels("error").inc()
        if broken_files:
            self.collection_errors.set(broken_files)
