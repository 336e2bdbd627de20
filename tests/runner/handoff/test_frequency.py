"""When a journey with an interval of its own is due: one cycle in each period, spread by a stable hash."""

from __future__ import annotations

import collections

import pytest

from runner.handoff.frequency import cycle_tick, cycles_per_period, is_due, next_due_tick, period_problem


def test_a_journey_runs_in_exactly_one_cycle_of_each_period() -> None:
    for journey in ("test_a.py::test_pay", "test_b.py::test_search[eu]"):
        due = [tick for tick in range(100, 130) if is_due(journey, 300, 30, tick)]
        assert len(due) == 3 and due[1] - due[0] == due[2] - due[1] == 10


def test_a_hundred_five_minute_journeys_spread_over_the_cycles_of_five_minutes() -> None:
    journeys = [f"test_checkout.py::test_pay[{n}]" for n in range(100)]
    per_cycle = collections.Counter(tick for tick in range(10) for j in journeys if is_due(j, 300, 30, tick))
    assert sum(per_cycle.values()) == 100
    assert len(per_cycle) == 10 and max(per_cycle.values()) <= 20  # all ten cycles get some, none most


def test_the_place_is_stable_across_processes_and_restarts() -> None:
    # crc32, not hash(): the same journey is due in the same cycles in every process, whatever PYTHONHASHSEED.
    assert [t for t in range(20) if is_due("test_x.py::test_y", 100, 10, t)] == [
        t for t in range(20) if is_due("test_x.py::test_y", 100, 10, t)
    ]
    assert next_due_tick("test_x.py::test_y", 100, 10, 3) in [
        t for t in range(4, 14) if is_due("test_x.py::test_y", 100, 10, t)
    ]


def test_a_journey_at_the_runners_interval_and_every_journey_under_once_always_run() -> None:
    assert all(is_due("test_a.py::test_a", 30, 30, tick) for tick in range(5))
    assert is_due("test_a.py::test_a", 300, 30, None)


def test_next_due_tick_is_the_first_cycle_after_this_one_in_which_it_runs() -> None:
    journey = "test_a.py::test_b"
    for tick in range(50, 80):
        following = next_due_tick(journey, 120, 30, tick)
        assert tick < following <= tick + 4
        assert is_due(journey, 120, 30, following)
        assert not any(is_due(journey, 120, 30, t) for t in range(tick + 1, following))


@pytest.mark.parametrize(("period", "cycles"), [(30, 1), (60, 2), (600, 20), (90.0000001, 3), (45, None), (10, None)])
def test_a_period_must_be_a_whole_multiple_of_the_interval(period: float, cycles: int | None) -> None:
    assert cycles_per_period(period, 30) == cycles
    assert (period_problem(period, 30) == "") == (cycles is not None)


def test_the_problem_names_the_rule_and_the_value() -> None:
    assert period_problem(45, 30) == "must be a whole multiple of the runner's --interval (30 s), got 45"


def test_cycles_are_numbered_by_the_wall_clock() -> None:
    assert cycle_tick(1_800_000_000.0, 30) == 60_000_000
    assert cycle_tick(1_800_000_000.4 + 29.9, 30) == 60_000_001


def test_a_period_longer_than_the_rules_longest_window_is_refused() -> None:
    assert period_problem(21600, 30) == ""
    assert period_problem(86400, 30).startswith("must be at most 21600 s (6 h)")
