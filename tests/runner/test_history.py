"""Journey history: bounded whatever the number of cycles, and kept across restarts in a state file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.errors import ConfigError
from runner.history import History
from runner.report import CollectionError, CycleReport, JourneyResult


def cycle(*results: JourneyResult, errors: tuple[CollectionError, ...] = ()) -> CycleReport:
    return CycleReport(tuple(r.journey for r in results), results, errors)


def ok(journey: str = "a.py::test_a", seconds: float = 0.01) -> JourneyResult:
    return JourneyResult(journey, True, seconds)


def bad(journey: str = "a.py::test_a", message: str = "assert 500 == 200") -> JourneyResult:
    return JourneyResult(journey, False, 0.02, "assertion", message)


def journey(history: History, name: str = "a.py::test_a") -> dict[str, object]:
    return next(j for j in history.as_json()["journeys"] if j["journey"] == name)


def test_history_keeps_at_most_max_runs_per_journey() -> None:
    history = History(max_runs=5)
    for i in range(1000):
        history.record(cycle(ok(seconds=i)), finished_at=float(i), duration_seconds=1.0)
    runs: list[dict[str, float]] = journey(history)["history"]  # type: ignore[assignment]
    assert [run["duration_seconds"] for run in runs] == [995, 996, 997, 998, 999]


def test_failing_since_is_the_first_failure_of_the_current_streak() -> None:
    history = History()
    history.record(cycle(ok()), 10.0, 1.0)
    history.record(cycle(bad()), 20.0, 1.0)
    history.record(cycle(bad(message="assert 401 == 200")), 30.0, 1.0)
    state = journey(history)
    assert state["state"] == "failing" and state["failing_since"] == 20.0
    assert state["message"] == "assert 401 == 200" and state["reason"] == "assertion"
    history.record(cycle(ok()), 40.0, 1.0)
    assert journey(history)["state"] == "passing" and journey(history)["failing_since"] is None


def test_collected_journeys_are_listed_before_they_run() -> None:
    history = History()
    history.add_journeys(["b.py::test_b"])
    assert journey(history, "b.py::test_b")["state"] == "not yet run"


def test_removed_journeys_leave_after_a_clean_collection_only() -> None:
    history = History()
    history.record(cycle(ok("a.py::test_a"), ok("b.py::test_b")), 1.0, 1.0)
    history.record(cycle(ok("a.py::test_a"), errors=(CollectionError("b.py", "SyntaxError"),)), 2.0, 1.0)
    assert {j["journey"] for j in history.as_json()["journeys"]} == {"a.py::test_a", "b.py::test_b"}
    history.record(cycle(ok("a.py::test_a")), 3.0, 1.0)
    assert {j["journey"] for j in history.as_json()["journeys"]} == {"a.py::test_a"}


def test_last_cycle_summary() -> None:
    history = History()
    history.record(cycle(ok(), bad("b.py::test_b"), errors=(CollectionError("c.py", "boom"),)), 5.0, 2.5)
    assert history.as_json()["last_cycle"] == {
        "finished_at": 5.0,
        "duration_seconds": 2.5,
        "passed": 1,
        "failed": 1,
        "collection_errors": [{"path": "c.py", "message": "boom"}],
    }


def test_state_file_survives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    first = History(max_runs=3, state_file=state)
    for at in (1.0, 2.0, 3.0, 4.0):
        first.record(cycle(bad() if at > 2 else ok()), at, 1.0)
    second = History(max_runs=3, state_file=state)
    second.load()
    assert second.as_json() == first.as_json()
    assert journey(second)["failing_since"] == 3.0
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temporary file left behind


def test_a_smaller_history_setting_trims_a_loaded_state(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    big = History(max_runs=10, state_file=state)
    for at in range(10):
        big.record(cycle(ok()), float(at), 1.0)
    small = History(max_runs=2, state_file=state)
    small.load()
    assert len(journey(small)["history"]) == 2  # type: ignore[arg-type]


def test_damaged_state_file_is_a_clear_error_and_is_kept(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text("{not json")
    with pytest.raises(ConfigError, match=r"state.json' cannot be read .*move it aside"):
        History(state_file=state).load()
    assert state.read_text() == "{not json"


def test_state_file_is_json_with_a_version(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    History(state_file=state).record(cycle(ok()), 1.0, 1.0)
    assert json.loads(state.read_text())["version"] == 1
