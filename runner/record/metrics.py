"""The monitor's metrics: journey results and the numbers that show the monitor itself is working.

Usage::

    metrics = MonitorMetrics(CollectorRegistry(), buckets=DEFAULT_BUCKETS, interval_seconds=30)
    metrics.add_journeys(["test_a.py::test_b"])      # both result series exist at zero from now on
    metrics.record_cycle(cycle_report, finished_at=time.time(), duration_seconds=1.2)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.metrics_core import Metric

from runner.handoff.results import CycleReport
from runner.record.certificates import CertificateBook
from runner.record.journey_series import JourneySeries
from runner.record.observed_series import ObservedSeries
from runner.record.text_exposition import Encoder, ExtraLabels, Labelled, render_parts
from runner.settings.shard import EVERY_JOURNEY, Shard

RUN_STATUSES = ("completed", "skipped", "error")


class LocatedCollector:
    """Every ``synthetic_*`` series of ``source``, with the label ``location`` added (other series as they are)."""

    def __init__(self, source: CollectorRegistry, location: str) -> None:
        self._source = source
        self._extra: ExtraLabels = (("location", location),)

    def collect(self) -> Iterator[Metric]:
        return Labelled(self._source, self._extra).collect()

    def exposition_text(self, extra: ExtraLabels = (), openmetrics: Encoder | None = None) -> bytes:
        """What ``generate_latest`` writes of ``collect()`` (``runner.record.text_exposition``)."""
        return render_parts(self._source, (*extra, *self._extra), openmetrics)


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
        self.observed_series = ObservedSeries()
        registry.register(self.observed_series)
        self.certificates = CertificateBook()
        registry.register(self.certificates)
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
        self.journey_series.set_slos(cycle.collected, cycle.slos)

    def forget_journeys_except(self, current: Iterable[str]) -> None:
        """Drop the series of journeys that are gone from a clean collection (deleted or renamed)."""
        kept = set(current)
        self.journey_series.keep_only(kept)
        self.observed_series.keep_only(kept)

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
        self.journey_series.set_slos(cycle.collected, cycle.slos)
        for result in cycle.results:
            if result.journey in muted:
                self.journey_series.observe_muted(result)
            else:
                self.journey_series.observe(result)
            self.observed_series.observe(result)  # what the wire and the page showed, in a window or not
        interval = self.journey_series.interval_seconds or 1.0
        self.certificates.record(
            cycle.results, {journey: max(1, round(seconds / interval)) for journey, seconds in cycle.periods}
        )
        for timing in cycle.fixtures:
            self.fixture_duration.labels(timing.fixture, timing.scope, timing.phase).observe(timing.seconds)
        self._record_blocked(cycle, muted)
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

    def _record_blocked(self, cycle: CycleReport, muted: frozenset[str]) -> None:
        """Each fixture that blocked journeys this cycle counts once; each fixture says how many journeys its
        failure blocks now: those whose last run (out of maintenance) it blocked, due in this cycle or not."""
        for fixture in {r.blocked_by for r in cycle.results if r.blocked_by and r.journey not in muted}:
            self.fixture_failures.labels(fixture).inc()
        blocking = self.journey_series.blocked_counts()
        for fixture, journeys in blocking.items():
            self.fixture_blocked.labels(fixture).set(journeys)
        # Only the fixtures that recovered go: a scrape meanwhile never misses one that still fails.
        for fixture in self._blocking - blocking.keys():
            self.fixture_blocked.remove(fixture)
        self._blocking = set(blocking)

    def record_skipped(self, ticks: int = 1) -> None:
        """Ticks that found the previous cycle still running."""
        self.runs.labels("skipped").inc(ticks)

    def record_error(self, broken_files: int = 0) -> None:
        """A cycle in which the suite could not run at all (``broken_files``: a conftest.py that failed to load)."""
        self.runs.labels("error").inc()
        if broken_files:
            self.collection_errors.set(broken_files)
