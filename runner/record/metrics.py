"""The monitor's metrics: journey results and the numbers that show the monitor itself is working.

Usage::

    metrics = MonitorMetrics(CollectorRegistry(), buckets=DEFAULT_BUCKETS, interval_seconds=30)
    metrics.add_journeys(["test_a.py::test_b"])      # both result series exist at zero from now on
    metrics.record_cycle(cycle_report, finished_at=time.time(), duration_seconds=1.2)
"""

from __future__ import annotations

import collections
import math
import threading
import time
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.samples import Exemplar
from prometheus_client.utils import floatToGoString

from runner.handoff.results import CycleReport, JourneyResult
from runner.settings.shard import EVERY_JOURNEY, Shard

RESULTS = ("success", "failure")
DURATION_HELP = "Duration of one journey (setup + call + teardown, without wider fixtures) in seconds, by result."
SUCCESS_HELP = "1 if the journey's last run passed, 0 if it failed."
FAILURES_HELP = (
    "Failed journey runs by reason: assertion, http, network, tls, timeout, crash, blocked or error (a reason's "
    "series appears when it first happens)."
)
DEGRADED_HELP = "Journey runs that passed but were degraded: slower than their degraded_after, or said so."
INTERVAL_HELP = "Seconds between the journey's runs: its @pytest.mark.interval, else the runner's interval."
MUTED_HELP = (
    "Journey runs in a mute maintenance window, by result: kept out of synthetic_request_duration (and every "
    "other journey series), so that they never count toward an alert, during the window or after it."
)
MAINTENANCE_HELP = "1 while the journey is in a maintenance window (paused or muted: no shipped alert fires), else 0."
BLOCKED_HELP = "1 while the journey's last run was blocked by the failure of the fixture named, wider than it."
STEP_HELP = "Duration of one step (a `with step(name):` block) of a journey in seconds, by result."
FLAKY_HELP = "Cycles in which the journey failed, was retried and passed (a success for alerting, kept apart)."
INFO_HELP = "1 for every journey, with the labels its @pytest.mark.labels gives it (team, severity, ...)."
RUN_STATUSES = ("completed", "skipped", "error")
PREFIX = "synthetic_"
NO_EXEMPLARS: tuple[dict[int, Exemplar], ...] = tuple({} for _ in RESULTS)


class _Journey:
    """One journey's numbers: a histogram per result, failures per reason, the last run's success."""

    __slots__ = (
        "blocked_by",
        "buckets",
        "degraded",
        "exemplars",
        "failures",
        "flaky",
        "interval",
        "labels",
        "maintenance",
        "muted",
        "step_exemplars",
        "steps",
        "success",
        "sums",
    )

    def __init__(self, bucket_count: int) -> None:
        self.buckets = [[0] * bucket_count for _ in RESULTS]  # per bucket, not cumulative
        self.sums = [0.0 for _ in RESULTS]
        self.failures: dict[str, int] = {}  # a reason's count from its first failure on: series stay few
        self.degraded = 0
        self.blocked_by = ""  # the fixture that blocked the last run, if it was blocked
        self.interval: float | None = None  # its own interval; None: the runner's
        self.maintenance = 0.0  # 1.0 while in a maintenance window
        self.muted: list[int] | None = None  # runs in a mute window, per result; None until the first
        self.success: float | None = None
        self.steps: dict[str, tuple[list[list[int]], list[float]]] = {}  # step -> (buckets, sums) per result
        self.labels: dict[str, str] = {}
        self.flaky = 0
        # Per result, the latest run that fell in each bucket, by its trace id; the same per step.
        self.exemplars: list[dict[int, Exemplar]] = [{} for _ in RESULTS]
        self.step_exemplars: dict[str, list[dict[int, Exemplar]]] = {}


class JourneySeries:
    """Every per-journey series as plain numbers, turned into metric families only when scraped.

    With thousands of journeys, prometheus_client's labelled children cost about 150 us to create per
    journey (a lock and a value object per bucket); here a new journey is a few lists.
    """

    def __init__(self, buckets: Sequence[float], interval_seconds: float = 0.0) -> None:
        self.bounds = (*buckets, math.inf)
        self.interval_seconds = interval_seconds  # the runner's: every journey's unless it has its own
        self._labels = [floatToGoString(bound) for bound in self.bounds]  # type: ignore[no-untyped-call]
        self._journeys: dict[str, _Journey] = {}
        self._lock = threading.Lock()

    def add(self, journeys: Iterable[str]) -> None:
        """Journeys whose series exist from now on, every count at zero."""
        with self._lock:
            for journey in journeys:
                if journey not in self._journeys:
                    self._journeys[journey] = _Journey(len(self.bounds))

    def keep_only(self, journeys: set[str]) -> None:
        """Drop the series of every journey not in ``journeys``."""
        with self._lock:
            for gone in self._journeys.keys() - journeys:
                del self._journeys[gone]

    def set_labels(self, collected: Iterable[str], labels: Iterable[tuple[str, Iterable[tuple[str, str]]]]) -> None:
        """The labels of the journeys just collected (none for those not named); others keep theirs."""
        given = {journey: dict(pairs) for journey, pairs in labels}
        with self._lock:
            for journey in collected:
                if journey in self._journeys:
                    self._journeys[journey].labels = given.get(journey, {})

    def set_periods(self, collected: Iterable[str], periods: Iterable[tuple[str, float]]) -> None:
        """The intervals of the journeys just collected (the runner's for those not named)."""
        given = dict(periods)
        with self._lock:
            for journey in collected:
                if journey in self._journeys:
                    self._journeys[journey].interval = given.get(journey)

    def set_maintenance(self, journeys: set[str]) -> None:
        """The journeys in a maintenance window now (every other journey is in none)."""
        with self._lock:
            for journey, state in self._journeys.items():
                state.maintenance = 1.0 if journey in journeys else 0.0

    def observe_muted(self, result: JourneyResult) -> None:
        """A run in a mute maintenance window: counted apart, nowhere else."""
        with self._lock:
            state = self._journeys.setdefault(result.journey, _Journey(len(self.bounds)))
            if state.muted is None:
                state.muted = [0 for _ in RESULTS]
            state.muted[0 if result.passed else 1] += 1

    def labels_of(self) -> dict[str, dict[str, str]]:
        """Every journey's labels (from @pytest.mark.labels), as the last collection gave them."""
        with self._lock:
            return {journey: dict(state.labels) for journey, state in self._journeys.items()}

    def observe(self, result: JourneyResult, at: float | None = None) -> None:
        """One run of one journey, and of each step it ran; its trace id is the buckets' exemplar."""
        at = time.time() if at is None else at
        trace = {"trace_id": result.trace_id} if result.trace_id else None
        with self._lock:
            state = self._journeys.setdefault(result.journey, _Journey(len(self.bounds)))
            index = 0 if result.passed else 1
            bucket = bisect_left(self.bounds, result.duration_seconds)
            state.buckets[index][bucket] += 1
            state.sums[index] += result.duration_seconds
            if trace:
                state.exemplars[index][bucket] = Exemplar(trace, result.duration_seconds, at)
            state.success = 1.0 if result.passed else 0.0
            if result.reason is not None:
                state.failures[result.reason] = state.failures.get(result.reason, 0) + 1
            state.flaky += result.flaky
            state.degraded += bool(result.passed and result.degraded)
            state.blocked_by = result.blocked_by
            for step in result.steps:
                buckets, sums = state.steps.setdefault(
                    step.name, ([[0] * len(self.bounds) for _ in RESULTS], [0.0 for _ in RESULTS])
                )
                outcome = 0 if step.passed else 1
                bucket = bisect_left(self.bounds, step.seconds)
                buckets[outcome][bucket] += 1
                sums[outcome] += step.seconds
                if trace:
                    exemplars = state.step_exemplars.setdefault(step.name, [{} for _ in RESULTS])
                    exemplars[outcome][bucket] = Exemplar(trace, step.seconds, at)

    def describe(self) -> Iterator[Metric]:
        yield HistogramMetricFamily("synthetic_request_duration", DURATION_HELP, labels=["journey", "result"])
        yield GaugeMetricFamily("synthetic_journey_success", SUCCESS_HELP, labels=["journey"])
        yield CounterMetricFamily("synthetic_journey_failures", FAILURES_HELP, labels=["journey", "reason"])
        yield HistogramMetricFamily("synthetic_step_duration", STEP_HELP, labels=["journey", "step", "result"])
        yield GaugeMetricFamily("synthetic_journey_info", INFO_HELP)
        yield CounterMetricFamily("synthetic_journey_flaky", FLAKY_HELP, labels=["journey"])
        yield CounterMetricFamily("synthetic_journey_degraded", DEGRADED_HELP, labels=["journey"])
        yield GaugeMetricFamily("synthetic_journey_blocked", BLOCKED_HELP, labels=["journey", "fixture"])
        yield GaugeMetricFamily("synthetic_journey_interval_seconds", INTERVAL_HELP, labels=["journey"])
        yield GaugeMetricFamily("synthetic_journey_maintenance", MAINTENANCE_HELP, labels=["journey"])
        yield CounterMetricFamily("synthetic_journey_muted_runs", MUTED_HELP, labels=["journey", "result"])

    def collect(self) -> Iterator[Metric]:
        (duration, success, failures, steps, info, flaky, degraded, blocked, interval, maintenance, muted) = (
            self.describe()
        )
        with self._lock:
            for journey, state in self._journeys.items():
                for result, counts, total, exemplars in zip(
                    RESULTS, state.buckets, state.sums, state.exemplars, strict=True
                ):
                    buckets = self._cumulative(counts, exemplars)
                    duration.add_metric([journey, result], buckets, total)  # type: ignore[attr-defined]
                for reason, count in state.failures.items():
                    failures.add_metric([journey, reason], count)  # type: ignore[attr-defined]
                if state.success is not None:
                    success.add_metric([journey], state.success)  # type: ignore[attr-defined]
                for step, (step_buckets, sums) in state.steps.items():
                    by_result = state.step_exemplars.get(step, NO_EXEMPLARS)
                    for result, counts, total, exemplars in zip(RESULTS, step_buckets, sums, by_result, strict=True):
                        labels = [journey, step, result]
                        steps.add_metric(labels, self._cumulative(counts, exemplars), total)  # type: ignore[attr-defined]
                info.add_sample("synthetic_journey_info", {**state.labels, "journey": journey}, 1.0)
                flaky.add_metric([journey], state.flaky)  # type: ignore[attr-defined]
                degraded.add_metric([journey], state.degraded)  # type: ignore[attr-defined]
                if state.blocked_by:
                    blocked.add_metric([journey, state.blocked_by], 1.0)  # type: ignore[attr-defined]
                interval.add_metric([journey], state.interval or self.interval_seconds)  # type: ignore[attr-defined]
                maintenance.add_metric([journey], state.maintenance)  # type: ignore[attr-defined]
                for result, count in zip(RESULTS, state.muted or (), strict=False):
                    muted.add_metric([journey, result], count)  # type: ignore[attr-defined]
        yield from (duration, success, failures, steps, info, flaky, degraded, blocked, interval, maintenance, muted)

    def _cumulative(self, counts: list[int], exemplars: dict[int, Exemplar]) -> list[Any]:
        """Cumulative bucket counts; a bucket with an exemplar is a (bound, count, exemplar) triple."""
        cumulative: list[Any] = []
        running = 0
        for bucket, (label, count) in enumerate(zip(self._labels, counts, strict=True)):
            running += count
            exemplar = exemplars.get(bucket)
            cumulative.append((label, float(running)) if exemplar is None else (label, float(running), exemplar))
        return cumulative


class LocatedCollector:
    """Every ``synthetic_*`` series of ``source``, with the label ``location`` added (other series as they are)."""

    def __init__(self, source: CollectorRegistry, location: str) -> None:
        self._source = source
        self._location = location

    def collect(self) -> Iterator[Metric]:
        location = self._location
        for family in self._source.collect():
            if family.name.startswith(PREFIX):
                family.samples = [
                    sample._replace(labels={**sample.labels, "location": location}) for sample in family.samples
                ]
            yield family


class MonitorMetrics:
    """Every metric the runner serves, in its own registry."""

    def __init__(
        self,
        registry: CollectorRegistry,
        buckets: Sequence[float],
        interval_seconds: float,
        timeout_seconds: float,
        *,
        shard: Shard = EVERY_JOURNEY,
        location: str | None = None,
    ) -> None:
        self.registry = registry
        if location is not None:  # the metrics go into a registry of their own, labelled on the way out
            registry = CollectorRegistry()
            self.registry.register(LocatedCollector(registry, location))
        self.journey_series = JourneySeries(buckets, interval_seconds)
        registry.register(self.journey_series)
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
        self.fixture_failures = Counter(
            "synthetic_fixture_failures",
            "Cycles in which a fixture wider than one journey failed and blocked journeys (once a cycle, whatever "
            "the number of workers or journeys).",
            ["fixture"],
            registry=registry,
        )
        self.fixture_blocked = Gauge(
            "synthetic_fixture_blocked_journeys",
            "Journeys the fixture's failure blocked in the last cycle (only fixtures that failed).",
            ["fixture"],
            registry=registry,
        )
        self._blocking: set[str] = set()  # fixtures with a synthetic_fixture_blocked_journeys series
        self.over_cap = Gauge(
            "synthetic_journeys_over_cap",
            "Journeys collected in the last cycle but not run: beyond --max-journeys.",
            registry=registry,
        )
        Gauge("synthetic_interval_seconds", "Seconds between cycle starts.", registry=registry).set(interval_seconds)
        Gauge("synthetic_journey_timeout_seconds", "Seconds one journey may take.", registry=registry).set(
            timeout_seconds
        )
        Gauge(
            "synthetic_shard_info", "1, with the shard (K/N of --shard) this runner runs.", ["shard"], registry=registry
        ).labels(str(shard)).set(1)
        for status in RUN_STATUSES:
            self.runs.labels(status)
        # process_start_time_seconds lets alert rules tell "no cycle yet" from "no cycle for a long time".
        ProcessCollector(registry=registry)

    def add_journeys(self, journeys: Iterable[str]) -> None:
        """Create both result series of each new journey at zero, so rate() is defined from the first scrape."""
        self.journey_series.add(journeys)

    def add_collection(self, cycle: CycleReport) -> None:
        """The journeys a collect-only pass found, with their labels."""
        self.add_journeys(cycle.collected)
        self.journey_series.set_labels(cycle.collected, cycle.labels)
        self.journey_series.set_periods(cycle.collected, cycle.periods)

    def forget_journeys_except(self, current: Iterable[str]) -> None:
        """Drop the series of journeys that are gone from a clean collection (deleted or renamed)."""
        self.journey_series.keep_only(set(current))

    def record_cycle(
        self, cycle: CycleReport, finished_at: float, duration_seconds: float, muted: frozenset[str] = frozenset()
    ) -> None:
        """One observation per executed journey, then the cycle's own numbers. The runs of ``muted`` journeys
        (in a mute maintenance window) are only counted in synthetic_journey_muted_runs_total.

        A cycle whose session went wrong (``cycle.error``) counts as an error, not as completed: its journeys'
        results still count, but the last completed cycle's time stands, so the monitor's own alert sees it.
        """
        self.add_journeys([*cycle.collected, *(result.journey for result in cycle.results)])
        self.journey_series.set_labels(cycle.collected, cycle.labels)
        self.journey_series.set_periods(cycle.collected, cycle.periods)
        for result in cycle.results:
            if result.journey in muted:
                self.journey_series.observe_muted(result)
            else:
                self.journey_series.observe(result)
        for timing in cycle.fixtures:
            self.fixture_duration.labels(timing.fixture, timing.scope, timing.phase).observe(timing.seconds)
        self._record_blocked(cycle)
        if not cycle.collection_errors:
            self.forget_journeys_except([*cycle.collected, *(result.journey for result in cycle.results)])
        self.collection_errors.set(len(cycle.collection_errors))
        self.journeys.set(len(cycle.collected))
        self.over_cap.set(cycle.over_cap)
        self.cycle_duration.set(duration_seconds)
        if cycle.error:
            self.runs.labels("error").inc()
            return
        self.last_run.set(finished_at)
        self.runs.labels("completed").inc()

    def _record_blocked(self, cycle: CycleReport) -> None:
        """Each fixture that blocked journeys this cycle counts once, and says how many it blocked."""
        blocked = collections.Counter(result.blocked_by for result in cycle.results if result.blocked_by)
        for fixture, journeys in blocked.items():
            self.fixture_failures.labels(fixture).inc()
            self.fixture_blocked.labels(fixture).set(journeys)
        # Only the fixtures that recovered go: a scrape meanwhile never misses one that still fails.
        for fixture in self._blocking - blocked.keys():
            self.fixture_blocked.remove(fixture)
        self._blocking = set(blocked)

    def record_skipped(self, ticks: int = 1) -> None:
        """Ticks that found the previous cycle still running."""
        self.runs.labels("skipped").inc(ticks)

    def record_error(self, broken_files: int = 0) -> None:
        """A cycle in which the suite could not run at all (``broken_files``: a conftest.py that failed to load)."""
        self.runs.labels("error").inc()
        if broken_files:
            self.collection_errors.set(broken_files)
