"""Hourly totals for 90 days, and the uptime they give: counted runs that passed, muted ones left out."""

from __future__ import annotations

import json

import pytest

from runner.handoff.results import CycleReport, JourneyResult
from runner.record.uptime import HOURS_KEPT, Uptime

HOUR = 3600.0
T0 = 1_800_000_000.0 - 1_800_000_000.0 % 86400  # midnight UTC


def cycle(*results: JourneyResult) -> CycleReport:
    return CycleReport(tuple(r.journey for r in results), results, ())


def ok(journey: str = "a.py::test_a", degraded: str = "") -> JourneyResult:
    return JourneyResult(journey, True, 0.1, degraded=degraded)


def bad(journey: str = "a.py::test_a") -> JourneyResult:
    return JourneyResult(journey, False, 0.1, "assertion", "boom")


def test_uptime_is_the_share_of_counted_runs_that_passed_degraded_ones_included() -> None:
    uptime = Uptime()
    for n in range(10):
        uptime.record(cycle(bad() if n < 2 else ok(degraded="slow" if n == 5 else "")), frozenset(), T0 + n * 60)
    figures = uptime.summary(T0 + 600)
    assert figures["a.py::test_a"] == {"24h": 0.8, "7d": 0.8, "30d": 0.8, "90d": 0.8}
    assert figures[""] == figures["a.py::test_a"]


def test_no_runs_is_none_not_a_hundred_percent() -> None:
    uptime = Uptime()
    assert uptime.summary(T0)[""] == {"24h": None, "7d": None, "30d": None, "90d": None}


def test_muted_runs_are_left_out() -> None:
    uptime = Uptime()
    uptime.record(cycle(ok()), frozenset(), T0)
    uptime.record(cycle(bad()), frozenset({"a.py::test_a"}), T0 + 60)
    assert uptime.summary(T0 + 120)["a.py::test_a"]["24h"] == 1.0
    (day,) = uptime.days("a.py::test_a", T0 + 120, count=1)
    assert day[1:] == (1, 0, 0, 1)  # runs, failures, degraded, muted


def test_each_window_holds_only_its_hours() -> None:
    uptime = Uptime()
    uptime.record(cycle(bad()), frozenset(), T0)  # 10 days before "now"
    uptime.record(cycle(ok()), frozenset(), T0 + 240 * HOUR)
    figures = uptime.summary(T0 + 240 * HOUR)["a.py::test_a"]
    assert figures == {"24h": 1.0, "7d": 1.0, "30d": 0.5, "90d": 0.5}


def test_hours_older_than_90_days_are_forgotten_and_memory_stays_bounded() -> None:
    uptime = Uptime()
    uptime.record(cycle(bad()), frozenset(), T0)
    uptime.record(cycle(ok()), frozenset(), T0 + HOURS_KEPT * HOUR)  # the old hour's slot is this one's
    assert uptime.summary(T0 + HOURS_KEPT * HOUR)["a.py::test_a"]["90d"] == 1.0
    uptime.record(cycle(ok()), frozenset(), T0 + 5 * HOURS_KEPT * HOUR)  # far later: everything before is gone
    assert uptime.summary(T0 + 5 * HOURS_KEPT * HOUR)["a.py::test_a"]["90d"] == 1.0


def test_days_are_utc_days_oldest_first_with_their_totals() -> None:
    uptime = Uptime()
    uptime.record(cycle(bad()), frozenset(), T0 + 23 * HOUR)  # the last hour of day 0
    uptime.record(cycle(ok(degraded="slow")), frozenset(), T0 + 24 * HOUR)  # the first of day 1
    days = uptime.days("a.py::test_a", T0 + 30 * HOUR, count=3)
    first = int(T0 // 86400)
    assert days == [(first - 1, 0, 0, 0, 0), (first, 1, 1, 0, 0), (first + 1, 1, 0, 1, 0)]
    assert uptime.days("", T0 + 30 * HOUR, count=3) == days  # the suite: the one journey


def test_the_totals_survive_a_restart_through_the_state_and_its_json() -> None:
    uptime = Uptime()
    uptime.record(cycle(bad(), ok("a.py::test_b")), frozenset(), T0)
    again = Uptime()
    again.restore(json.loads(json.dumps(uptime.state())), T0 + 2 * HOUR)
    assert again.summary(T0 + 2 * HOUR) == uptime.summary(T0 + 2 * HOUR)
    again.record(cycle(ok()), frozenset(), T0 + 2 * HOUR)
    assert again.summary(T0 + 2 * HOUR)["a.py::test_a"]["24h"] == 0.5


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ([], "must be an object with 'journeys'"),
        ({"journeys": {"j": ["x", None, None, None]}}, "is not compressed base64"),
        ({"journeys": {"j": [None, None]}}, "must have 4 rings"),
        ({"journeys": {"j": ["eAFjYAAAAAIAAQ==", None, None, None]}}, "must hold 2160 hours"),
        ({"hour": "soon", "journeys": {}}, "'hour' must be a whole number"),
    ],
)
def test_damaged_totals_are_refused_saying_what_is_wrong(state: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Uptime().restore(state, T0)


def test_journeys_gone_from_the_suite_are_forgotten_but_the_suite_keeps_its_history() -> None:
    uptime = Uptime()
    uptime.record(cycle(bad("a.py::test_gone"), ok()), frozenset(), T0)
    uptime.forget_except({"a.py::test_a"})
    figures = uptime.summary(T0)
    assert "a.py::test_gone" not in figures and figures[""]["24h"] == 0.5
