"""A pytest plugin that records a cycle: what was collected, and each journey's result where it ran.

In the cycle's process it keeps the selected journeys and the files that failed to collect. In a worker it
gathers one journey's phase reports; ``take`` turns them, with what the journey plugin found (the failure's
reason, the fixture that blocked it, why a pass is degraded), into the journey's result. The time fixtures
wider than the journey spent (the plugin's ``FixtureClock``) is left out of its duration and kept apart as
fixture timings.

Usage::

    recorder = Recorder(Path("journeys"))
    pytest.main(args, plugins=[recorder])       # in a worker, after each journey:
    outcome, fixtures = recorder.take("test_a.py::test_b")
"""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.handoff import frequency
from runner.handoff.observations import NOTHING_OBSERVED, Observations
from runner.handoff.results import (
    CollectionError,
    FixtureTiming,
    JourneyResult,
    StepResult,
    collection_message,
    journey_id,
    journey_result,
    session_error,
)
from runner.handoff.results import node_prefix as _node_prefix
from runner.journey import browser, verdict, vitals
from runner.journey.fixture_clock import FixtureClock
from runner.journey.labels import journey_labels
from runner.journey.plugin import (
    CLOCK_KEY,
    DEGRADED_KEY,
    FAILED_STEP_KEY,
    FAILURE_KEY,
    JOURNEY_PREFIX_KEY,
    REQUEST_LOG_KEY,
    STEPS_KEY,
    TRACE_KEY,
)


def journey_period(item: pytest.Item, interval_seconds: float | None) -> float | None:
    """The journey's own ``@pytest.mark.interval``; None without one, or with one that fails it in setup."""
    try:
        period = verdict.marker_seconds(item, "interval")
    except ValueError:
        return None
    if period is None or (interval_seconds and frequency.period_problem(period, interval_seconds)):
        return None
    return period


def observed(item: pytest.Item) -> Observations:
    """What the journey's current attempt saw: its requests through ``http`` and its pages' Web Vitals."""
    log = item.stash.get(REQUEST_LOG_KEY, None)
    found = vitals.vitals(item)
    if log is not None:
        return log.observations(found)
    return Observations(vitals=found) if found else NOTHING_OBSERVED


def _slo(item: pytest.Item) -> tuple[float, int] | None:
    """The journey's ``@pytest.mark.slo``; None without one, or with one that fails it in setup."""
    try:
        return verdict.marker_slo(item)
    except ValueError:
        return None


class Recorder:
    """Collection in the cycle's process; per-journey reports and shared fixture time in a worker."""

    def __init__(self, journeys: Path) -> None:
        self.journeys = journeys.resolve()
        if not self.journeys.is_dir():
            self.journeys = self.journeys.parent  # a single journey file: ids relative to its folder
        self.prefix = ""
        self.collected: list[str] = []
        self.labels: list[tuple[str, tuple[tuple[str, str], ...]]] = []
        self.periods: list[float | None] = []  # per collected journey: its @pytest.mark.interval, if valid
        self.slos: list[tuple[str, tuple[float, int]]] = []  # (journey, (objective, window seconds)) with a valid slo
        self.collection_errors: list[CollectionError] = []
        self._reports: list[pytest.TestReport] = []
        self._earlier: list[list[pytest.TestReport]] = []  # attempts retried before the current one
        self.session_started = False
        self.error = ""  # pytest's internal error or interruption of the session, the first one

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.session_started = True
        clock = session.config.stash.get(CLOCK_KEY, None)
        if clock is None:  # the journey plugin is disabled (-p no:synthetic_monitor): time wide fixtures anyway
            clock = session.config.stash[CLOCK_KEY] = FixtureClock()
            session.config.pluginmanager.register(clock, "synthetic-monitor-fixture-clock")
        clock.keep_timings = True
        self.prefix = _node_prefix(str(session.config.rootpath), str(self.journeys))
        session.config.stash[JOURNEY_PREFIX_KEY] = self.prefix

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            path = journey_id(report.nodeid, self.prefix) or "."
            self.collection_errors.append(CollectionError(path, collection_message(report.longreprtext)))

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.collected = [journey_id(item.nodeid, self.prefix) for item in session.items]
        self.labels = [
            (journey, tuple(sorted(found.items())))
            for journey, item in zip(self.collected, session.items, strict=True)
            if (found := journey_labels(item))
        ]
        interval = session.config.getoption("--synthetic-interval", None)
        self.periods = [journey_period(item, interval) for item in session.items]
        self.slos = [
            (journey, slo) for journey, item in zip(self.collected, session.items, strict=True) if (slo := _slo(item))
        ]

    def journey_periods(self) -> tuple[tuple[str, float], ...]:
        """The journeys that run at an interval of their own, with it."""
        pairs = zip(self.collected, self.periods, strict=True)
        return tuple((journey, period) for journey, period in pairs if period is not None)

    def pytest_internalerror(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        self.error = self.error or session_error("internal error", excinfo.value)

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        # pytest.exit() or a KeyboardInterrupt in a session hook: the cycle stopped short, whatever its status.
        self.error = self.error or session_error("session interrupted", excinfo.value)

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        # pytest-rerunfailures starts every attempt with a logstart: what came before was a retried attempt.
        if self._reports:
            self._earlier.append(self._reports)
            self._reports = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self._reports.append(report)

    def take(self, journey: str, item: pytest.Item) -> tuple[JourneyResult | None, list[FixtureTiming]]:
        """The result of the journey whose reports came in since the last call, and the shared fixture time."""
        clock = item.config.stash[CLOCK_KEY]
        failure = item.stash.get(FAILURE_KEY, None)
        steps: list[StepResult] = item.stash.get(STEPS_KEY, [])
        result = journey_result(
            journey,
            self._reports,
            clock.seconds,
            steps=steps,
            failed_step=item.stash.get(FAILED_STEP_KEY, None),
            earlier=self._earlier,
            trace_id=item.stash.get(TRACE_KEY, ""),
            artifacts=browser.artifacts(item),
            reason=failure.reason if failure else None,
            blocked_by=(failure.blocked_by, failure.scope) if failure and failure.blocked_by else None,
            degraded=item.stash.get(DEGRADED_KEY, ""),
            observed=observed(item),
        )
        self._reports, self._earlier = [], []
        clock.restart()
        return result, clock.take_timings()
