"""Time that fixtures wider than one journey (class, module, package, session) spend setting up and tearing down.

That time belongs to no single journey: the journey plugin leaves it out of the duration it judges degraded,
and the runner out of ``synthetic_request_duration``, and keeps it apart as fixture timings.

Usage::

    clock = FixtureClock(keep_timings=True)
    config.pluginmanager.register(clock)
    ...                                   # after a journey's teardown:
    clock.seconds                         # wide-fixture time inside this journey's phases
    clock.take_timings()                  # -> [FixtureTiming("signed_in", "session", "setup", 0.8)]
"""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import Any

import pytest

from runner.handoff.results import FixtureTiming

FUNCTION_SCOPE = "function"


class FixtureClock:
    """A pytest plugin timing wide fixtures; ``seconds`` starts again with every journey (and every attempt)."""

    def __init__(self, keep_timings: bool = False) -> None:
        self.seconds = 0.0
        self.keep_timings = keep_timings
        self._timings: list[FixtureTiming] = []
        self._teardown_started: dict[int, float] = {}
        self._depth = 0

    def restart(self) -> None:
        """A journey (or a retried attempt) starts: its wide-fixture time starts at zero."""
        self.seconds = 0.0

    def take_timings(self) -> list[FixtureTiming]:
        """The timings since the last call (only with ``keep_timings``)."""
        timings, self._timings = self._timings, []
        return timings

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
            self._add("setup", fixturedef, time.perf_counter() - started)
            # Finalizers run last-in first-out: this one runs first when the fixture is torn down.
            fixturedef.addfinalizer(lambda: self._teardown_started.__setitem__(id(fixturedef), time.perf_counter()))

    def pytest_fixture_post_finalizer(self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest) -> None:
        started = self._teardown_started.pop(id(fixturedef), None)
        if started is not None:
            self._add("teardown", fixturedef, time.perf_counter() - started)

    def _add(self, phase: str, fixturedef: pytest.FixtureDef[Any], seconds: float) -> None:
        if self.keep_timings:
            self._timings.append(FixtureTiming(fixturedef.argname, fixturedef.scope, phase, seconds))
        if self._depth == 0:  # a wide fixture set up inside another one is already inside its time
            self.seconds += seconds
