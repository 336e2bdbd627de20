"""Every per-journey series as plain numbers, turned into metric families only when scraped.

Usage::

    series = JourneySeries(buckets=(0.1, 1.0), interval_seconds=30)
    series.add(["test_a.py::test_b"])                 # both result series exist at zero from now on
    series.observe(journey_result)                    # one run; its trace id is the bucket's exemplar
    registry.register(series)                         # synthetic_request_duration, _journey_success, ...
"""

from __future__ import annotations

import collections
import math
import threading
import time
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.samples import Exemplar
from prometheus_client.utils import floatToGoString

from runner.handoff.results import JourneyResult
from runner.record.journey_text import JourneyNumbers, journey_text
from runner.record.text_exposition import Encoder, ExtraLabels, header, openmetrics_header

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
SLO_OBJECTIVE_HELP = "The journey's @pytest.mark.slo objective: the share of its runs that must succeed."
SLO_WINDOW_HELP = "The window of the journey's SLO in seconds (7, 28 or 30 days)."
SLO_RUNS_HELP = "Runs that count toward the journey's SLO (all but those in a mute maintenance window), by result."
BLOCKED_HELP = "1 while the journey's last run was blocked by the failure of the fixture named, wider than it."
STEP_HELP = "Duration of one step (a `with step(name):` block) of a journey in seconds, by result."
FLAKY_HELP = "Cycles in which the journey failed, was retried and passed (a success for alerting, kept apart)."
INFO_HELP = "1 for every journey, with the labels its @pytest.mark.labels gives it (team, severity, ...)."
NO_EXEMPLARS: tuple[dict[int, Exemplar], ...] = tuple({} for _ in RESULTS)


class JourneySeries:
    """Every per-journey series as plain numbers, turned into metric families only when scraped.

    With thousands of journeys, prometheus_client's labelled children cost about 150 us to create per
    journey (a lock and a value object per bucket); here a new journey is a few lists.
    """

    def __init__(self, buckets: Sequence[float], interval_seconds: float = 0.0) -> None:
        self.bounds = (*buckets, math.inf)
        self.interval_seconds = interval_seconds  # the runner's: every journey's unless it has its own
        self._labels = [floatToGoString(bound) for bound in self.bounds]  # type: ignore[no-untyped-call]
        self._journeys: dict[str, JourneyNumbers] = {}
        self._lock = threading.Lock()
        self._text_extra: ExtraLabels = ()
        # Each family's HELP and TYPE lines, named as its samples are (a counter's with _total).
        self._headers = [
            header(family.name + ("_total" if family.type == "counter" else ""), family.type, family.documentation)
            for family in self.describe()
        ]
        self._om_headers = [
            openmetrics_header(family.name, family.type, family.documentation) for family in self.describe()
        ]

    def add(self, journeys: Iterable[str]) -> None:
        """Journeys whose series exist from now on, every count at zero."""
        with self._lock:
            for journey in journeys:
                if journey not in self._journeys:
                    self._journeys[journey] = JourneyNumbers(len(self.bounds))

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
                state = self._journeys.get(journey)
                if state is not None and state.labels != (labels_now := given.get(journey, {})):
                    state.labels = labels_now
                    state.changed()

    def set_periods(self, collected: Iterable[str], periods: Iterable[tuple[str, float]]) -> None:
        """The intervals of the journeys just collected (the runner's for those not named)."""
        given = dict(periods)
        with self._lock:
            for journey in collected:
                state = self._journeys.get(journey)
                if state is not None and state.interval != (interval := given.get(journey)):
                    state.interval = interval
                    state.changed()

    def set_slos(self, collected: Iterable[str], slos: Iterable[tuple[str, tuple[float, int]]]) -> None:
        """The SLOs of the journeys just collected (none for those not named)."""
        given = dict(slos)
        with self._lock:
            for journey in collected:
                state = self._journeys.get(journey)
                if state is not None and state.slo != (slo := given.get(journey)):
                    state.slo = slo
                    state.changed()

    def slos(self) -> dict[str, tuple[float, int]]:
        """The journeys with an SLO: (objective, window seconds)."""
        with self._lock:
            return {journey: state.slo for journey, state in self._journeys.items() if state.slo is not None}

    def set_maintenance(self, journeys: set[str]) -> None:
        """The journeys in a maintenance window now (every other journey is in none)."""
        with self._lock:
            for journey, state in self._journeys.items():
                if state.maintenance != (maintenance := 1.0 if journey in journeys else 0.0):
                    state.maintenance = maintenance
                    state.changed()

    def observe_muted(self, result: JourneyResult) -> None:
        """A run in a mute maintenance window: counted apart, nowhere else."""
        with self._lock:
            state = self._journeys.setdefault(result.journey, JourneyNumbers(len(self.bounds)))
            if state.muted is None:
                state.muted = [0 for _ in RESULTS]
            state.muted[0 if result.passed else 1] += 1
            state.blocked_by = ""  # in a mute window it blocks no page
            state.changed()

    def blocked_counts(self) -> dict[str, int]:
        """For each fixture that blocked a journey's last observed run, how many journeys it blocked."""
        with self._lock:
            return dict(collections.Counter(s.blocked_by for s in self._journeys.values() if s.blocked_by))

    def labels_of(self) -> dict[str, dict[str, str]]:
        """Every journey's labels (from @pytest.mark.labels), as the last collection gave them."""
        with self._lock:
            return {journey: dict(state.labels) for journey, state in self._journeys.items()}

    def observe(self, result: JourneyResult, at: float | None = None) -> None:
        """One run of one journey, and of each step it ran; its trace id is the buckets' exemplar."""
        at = time.time() if at is None else at
        trace = {"trace_id": result.trace_id} if result.trace_id else None
        with self._lock:
            state = self._journeys.setdefault(result.journey, JourneyNumbers(len(self.bounds)))
            state.changed()
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
            if state.slo is not None:
                state.slo_runs[index] += 1
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
        yield GaugeMetricFamily("synthetic_journey_slo_objective", SLO_OBJECTIVE_HELP, labels=["journey"])
        yield GaugeMetricFamily("synthetic_journey_slo_window_seconds", SLO_WINDOW_HELP, labels=["journey"])
        yield CounterMetricFamily("synthetic_journey_slo_runs", SLO_RUNS_HELP, labels=["journey", "result"])

    def collect(self) -> Iterator[Metric]:
        (duration, success, failures, steps, info, flaky, degraded, blocked, interval, maintenance, muted, *slo) = (
            self.describe()
        )
        objective, window, slo_runs = slo
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
                if state.slo is not None:
                    objective.add_metric([journey], state.slo[0])  # type: ignore[attr-defined]
                    window.add_metric([journey], state.slo[1])  # type: ignore[attr-defined]
                    for result, count in zip(RESULTS, state.slo_runs, strict=True):
                        slo_runs.add_metric([journey, result], count)  # type: ignore[attr-defined]
        yield from (duration, success, failures, steps, info, flaky, degraded, blocked, interval, maintenance, muted)
        yield from (objective, window, slo_runs)

    def exposition_text(self, extra: ExtraLabels = (), openmetrics: Encoder | None = None) -> bytes:
        """What ``generate_latest`` (or OpenMetrics' without its ``# EOF``) writes of ``collect()``, byte for byte,
        ``extra`` labels on every series: from each journey's kept text (``runner.record.journey_text``), written
        again only where its numbers changed."""
        with self._lock:
            if extra != self._text_extra:  # a runner's location is set once: this is for its first render
                self._text_extra = extra
                for state in self._journeys.values():
                    state.changed()
                    state.prefixes = {}
            labels = dict(extra)
            blocks = [
                journey_text(
                    journey, state, self._labels, self.interval_seconds, labels, openmetrics=openmetrics is not None
                )
                for journey, state in self._journeys.items()
            ]
        parts = []
        for family, heading in enumerate(self._headers if openmetrics is None else self._om_headers):
            parts.append(heading)
            parts.extend(block[family] for block in blocks)
        return "".join(parts).encode()

    def _cumulative(self, counts: list[int], exemplars: dict[int, Exemplar]) -> list[Any]:
        """Cumulative bucket counts; a bucket with an exemplar is a (bound, count, exemplar) triple."""
        cumulative: list[Any] = []
        running = 0
        for bucket, (label, count) in enumerate(zip(self._labels, counts, strict=True)):
            running += count
            exemplar = exemplars.get(bucket)
            cumulative.append((label, float(running)) if exemplar is None else (label, float(running), exemplar))
        return cumulative
