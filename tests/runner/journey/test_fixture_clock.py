"""The wide-fixture clock: time that session, module and class fixtures take is nobody's own, so it never makes a
journey degraded; a journey's own function fixtures do count."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, cast

import pytest

from runner.handoff.results import FixtureTiming
from runner.journey.fixture_clock import FixtureClock
from tests.processes import journeys
from tests.runner.journey.test_verdicts_under_pytest import run_suite, suite_conftest

PAUSE = 0.05
FIXTURES = """
import time

import pytest


@pytest.fixture(scope="session")
def slow_session():
    time.sleep(1.0)
    yield
    time.sleep(1.0)  # in the last journey's teardown


@pytest.fixture(scope="session")
def inner_session():
    time.sleep(0.3)


@pytest.fixture(scope="module")
def outer_module(request):
    time.sleep(0.3)
    request.getfixturevalue("inner_session")  # set up inside this fixture's own setup


@pytest.fixture
def slow_function():
    time.sleep(0.3)
"""
JOURNEYS = """
    import time

    import pytest


    @pytest.mark.degraded_after(0.5)
    def test_first_journey_does_not_pay_for_the_session_setup(slow_session):
        pass


    @pytest.mark.degraded_after(0.1)
    def test_its_own_function_fixture_counts(slow_function):
        pass


    @pytest.mark.degraded_after(0.2)
    def test_a_wide_fixture_inside_another_counts_once(outer_module):
        time.sleep(0.3)


    @pytest.mark.degraded_after(0.5)
    def test_last_journey_does_not_pay_for_the_session_teardown(slow_session):
        pass
"""


@pytest.fixture(scope="module")
def degraded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """{journey: why} of the suite's degraded journeys, under plain pytest; every journey passed."""
    folder = journeys(
        tmp_path_factory.mktemp("clock"), {"conftest.py": suite_conftest(FIXTURES), "test_clock.py": JOURNEYS}
    )
    run = run_suite(folder)
    assert run.status == 0 and "4 passed" in run.output, run.output
    return {nodeid.split("::")[-1]: why for nodeid, why in run.values("synthetic_degraded").items()}


def test_a_slow_session_fixtures_setup_does_not_make_the_first_journey_degraded(degraded: dict[str, str]) -> None:
    assert "test_first_journey_does_not_pay_for_the_session_setup" not in degraded


def test_a_slow_session_fixtures_teardown_does_not_make_the_last_journey_degraded(degraded: dict[str, str]) -> None:
    assert "test_last_journey_does_not_pay_for_the_session_teardown" not in degraded


def test_a_journeys_own_slow_function_fixture_makes_it_degraded(degraded: dict[str, str]) -> None:
    # Right after the journey whose setup took the session fixture's second: the clock started again.
    assert degraded["test_its_own_function_fixture_counts"].endswith("degraded after 0.10 s")


def test_a_wide_fixture_set_up_inside_another_is_not_subtracted_twice(degraded: dict[str, str]) -> None:
    # 0.3 s of module fixture, holding 0.3 s of session fixture, then 0.3 s of the journey's own: 0.3 s is its
    # own, over 0.2 s. Counting the inner fixture twice would leave it nothing.
    assert degraded["test_a_wide_fixture_inside_another_counts_once"].endswith("degraded after 0.20 s")


class FakeFixtureDef:
    """What the clock reads of a pytest FixtureDef, and its finalizers run as pytest runs them (last first)."""

    def __init__(self, argname: str, scope: str) -> None:
        self.argname, self.scope = argname, scope
        self.finalizers: list[Callable[[], object]] = []

    def addfinalizer(self, finalizer: Callable[[], object]) -> None:
        self.finalizers.append(finalizer)

    def tear_down(self, clock: FixtureClock, seconds: float = 0.0) -> None:
        for finalizer in reversed(self.finalizers):
            finalizer()
        time.sleep(seconds)  # the fixture's own teardown, between the clock's finalizer and the post-finalizer
        clock.pytest_fixture_post_finalizer(cast(Any, self), cast(Any, None))


def set_up(clock: FixtureClock, definition: FakeFixtureDef, body: Callable[[], object] = lambda: None) -> None:
    """Drive the clock's hook wrapper around a fixture's setup, as pluggy does."""
    wrapper = clock.pytest_fixture_setup(cast(Any, definition), cast(Any, None))
    next(wrapper)
    body()
    with pytest.raises(StopIteration):
        wrapper.send(None)


def test_wide_fixtures_setup_and_teardown_are_timed_and_function_fixtures_are_not() -> None:
    clock = FixtureClock(keep_timings=True)
    session, function = FakeFixtureDef("signed_in", "session"), FakeFixtureDef("http", "function")
    set_up(clock, session, lambda: time.sleep(PAUSE))
    set_up(clock, function, lambda: time.sleep(PAUSE))
    session.tear_down(clock, PAUSE)
    timings = clock.take_timings()
    assert [(t.fixture, t.scope, t.phase) for t in timings] == [
        ("signed_in", "session", "setup"),
        ("signed_in", "session", "teardown"),
    ]
    assert all(t.seconds >= PAUSE for t in timings)
    assert clock.seconds == pytest.approx(sum(t.seconds for t in timings))
    assert function.finalizers == []
    assert clock.take_timings() == []


def test_a_wide_fixture_inside_another_is_timed_but_counted_once() -> None:
    clock = FixtureClock(keep_timings=True)
    outer, inner = FakeFixtureDef("browser", "session"), FakeFixtureDef("playwright", "session")
    set_up(clock, outer, lambda: set_up(clock, inner, lambda: time.sleep(PAUSE)))
    inner_timing, outer_timing = clock.take_timings()
    assert (inner_timing.fixture, outer_timing.fixture) == ("playwright", "browser")
    assert outer_timing.seconds >= inner_timing.seconds >= PAUSE
    assert clock.seconds == outer_timing.seconds


def test_the_clock_starts_again_for_every_journey_and_keeps_no_timings_unless_asked() -> None:
    clock = FixtureClock()
    set_up(clock, FakeFixtureDef("signed_in", "module"), lambda: time.sleep(PAUSE))
    assert clock.seconds >= PAUSE
    clock.restart()
    assert clock.seconds == 0.0
    assert clock.take_timings() == []


def test_a_failing_wide_fixtures_setup_is_timed_too() -> None:
    clock = FixtureClock(keep_timings=True)
    wrapper = clock.pytest_fixture_setup(cast(Any, FakeFixtureDef("signed_in", "session")), cast(Any, None))
    next(wrapper)
    time.sleep(PAUSE)
    with pytest.raises(ConnectionRefusedError):
        wrapper.throw(ConnectionRefusedError(111, "Connection refused"))
    [timing] = clock.take_timings()
    assert timing == FixtureTiming("signed_in", "session", "setup", timing.seconds) and timing.seconds >= PAUSE
