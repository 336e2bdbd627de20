"""A pytest plugin that records a cycle: what was collected, and each journey's result where it ran.

In the cycle's process it keeps the selected journeys and the files that failed to collect. In a worker it
gathers one journey's phase reports and the time that fixtures wider than the journey (class, module,
package, session) spent setting up and tearing down; ``take`` turns them into the journey's result, with that
shared time left out of its duration and kept apart as fixture timings.

Usage::

    recorder = Recorder(Path("journeys"))
    pytest.main(args, plugins=[recorder])       # in a worker, after each journey:
    outcome, fixtures = recorder.take("test_a.py::test_b")
"""

from __future__ import annotations

import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from runner.handoff.results import (
    CollectionError,
    FixtureTiming,
    JourneyResult,
    collection_message,
    journey_id,
    journey_result,
    session_error,
)
from runner.handoff.results import node_prefix as _node_prefix
from runner.journey import browser
from runner.journey.plugin import FAILED_STEP_KEY, JOURNEY_PREFIX_KEY, STEPS_KEY, TRACE_KEY, journey_labels

FUNCTION_SCOPE = "function"


class Recorder:
    """Collection in the cycle's process; per-journey reports and shared fixture time in a worker."""

    def __init__(self, journeys: Path) -> None:
        self.journeys = journeys.resolve()
        if not self.journeys.is_dir():
            self.journeys = self.journeys.parent  # a single journey file: ids relative to its folder
        self.prefix = ""
        self.collected: list[str] = []
        self.labels: list[tuple[str, tuple[tuple[str, str], ...]]] = []
        self.collection_errors: list[CollectionError] = []
        self._reports: list[pytest.TestReport] = []
        self._earlier: list[list[pytest.TestReport]] = []  # attempts retried before the current one
        self._shared_seconds = 0.0
        self._fixtures: list[FixtureTiming] = []
        self._teardown_started: dict[int, float] = {}
        self._depth = 0
        self.session_started = False
        self.error = ""  # pytest's internal error or interruption of the session, the first one

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.session_started = True
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

    def pytest_internalerror(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        self.error = self.error or session_error("internal error", excinfo.value)

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        # pytest.exit() or a KeyboardInterrupt in a session hook: the cycle stopped short, whatever its status.
        self.error = self.error or session_error("session interrupted", excinfo.value)

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        # pytest-rerunfailures starts every attempt with a logstart: what came before was a retried attempt.
        if self._reports:
            self._earlier.append(self._reports)
            self._reports, self._shared_seconds = [], 0.0

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self._reports.append(report)

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(
        self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
    ) -> Generator[None, object, object]:
        if fixturedef.scope == FUNCTION_SCOPE:
            return (yield)
        started = time.perf_counter()
        self._depth += 1
        try:
            return (yield)
        finally:
            self._depth -= 1
            self._shared("setup", fixturedef, time.perf_counter() - started)
            # Finalizers run last-in first-out: this one runs first when the fixture is torn down.
            fixturedef.addfinalizer(lambda: self._teardown_started.__setitem__(id(fixturedef), time.perf_counter()))

    def pytest_fixture_post_finalizer(self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest) -> None:
        started = self._teardown_started.pop(id(fixturedef), None)
        if started is not None:
            self._shared("teardown", fixturedef, time.perf_counter() - started)

    def take(self, journey: str, item: pytest.Item) -> tuple[JourneyResult | None, list[FixtureTiming]]:
        """The result of the journey whose reports came in since the last call, and the shared fixture time."""
        steps = item.stash.get(STEPS_KEY, [])
        failed_step = item.stash.get(FAILED_STEP_KEY, None)
        result = journey_result(
            journey,
            self._reports,
            self._shared_seconds,
            steps=steps,
            failed_step=failed_step,
            earlier=self._earlier,
            trace_id=item.stash.get(TRACE_KEY, ""),
            artifacts=browser.artifacts(item),
        )
        fixtures = self._fixtures
        self._reports, self._earlier, self._shared_seconds, self._fixtures = [], [], 0.0, []
        return result, fixtures

    def _shared(self, phase: str, fixturedef: pytest.FixtureDef[Any], seconds: float) -> None:
        self._fixtures.append(FixtureTiming(fixturedef.argname, fixturedef.scope, phase, seconds))
        if self._depth == 0:  # a wide fixture set up inside another one is already inside its time
            self._shared_seconds += seconds
