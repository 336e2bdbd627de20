"""Journey history: bounded whatever the number of cycles, and kept across restarts in a state file."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.errors import ConfigError
from runner.handoff.results import CollectionError, CycleReport, JourneyResult
from runner.record.document import Document, JourneyEntry
from runner.record.history import CycleSummary, History, Run
from runner.record.state_file import CYCLE_CHECKS, RUN_CHECKS, RUN_REQUIRED
from runner.web import page
from tests.processes import REPO_ROOT


def cycle(*results: JourneyResult, errors: tuple[CollectionError, ...] = ()) -> CycleReport:
    return CycleReport(tuple(r.journey for r in results), results, errors)


def ok(journey: str = "a.py::test_a", seconds: float = 0.01) -> JourneyResult:
    return JourneyResult(journey, True, seconds)


def bad(journey: str = "a.py::test_a", message: str = "assert 500 == 200") -> JourneyResult:
    return JourneyResult(journey, False, 0.02, "assertion", message)


def journey(history: History, name: str = "a.py::test_a") -> JourneyEntry:
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
    assert len(journey(small)["history"]) == 2


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


# --- a state file of the right shape with values of the wrong type -------------------------------------------

JOURNEY = "test_a.py::test_b"
UNIX_TIME = "a unix time (seconds since 1970, before the year 10000)"


def valid_state(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """A state file as the runner writes it: three runs of JOURNEY, the last failing, and a broken file."""
    state = tmp_path / "state.json"
    history = History(state_file=state)
    for at in (1.0, 2.0, 3.0):
        results = (ok(JOURNEY) if at < 3 else bad(JOURNEY),)
        history.record(cycle(*results, errors=(CollectionError("c.py", "boom"),)), at, 0.5)
    return state, json.loads(state.read_text())


def load_error(state: Path, document: dict[str, Any]) -> str:
    state.write_text(json.dumps(document))
    with pytest.raises(ConfigError) as caught:
        History(state_file=state).load()
    return str(caught.value)


def expected(state: Path, problem: str) -> str:
    return f"--state-file {str(state)!r}: {problem}; move it aside to start afresh"


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("duration_seconds", "abc", "duration_seconds must be a number, got 'abc'"),
        ("duration_seconds", True, "duration_seconds must be a number, got true"),
        ("duration_seconds", None, "duration_seconds must be a number, got null"),
        ("duration_seconds", float("nan"), "duration_seconds must be a finite number, got NaN"),
        ("duration_seconds", float("-inf"), "duration_seconds must be a finite number, got -Infinity"),
        ("duration_seconds", 10**400, f"duration_seconds must be a finite number, got 1{'0' * 56}..."),
        ("at", "2024-01-01", f"at must be {UNIX_TIME}, got '2024-01-01'"),
        ("at", 1e300, f"at must be {UNIX_TIME}, got 1e+300"),
        ("at", -1, f"at must be {UNIX_TIME}, got -1"),
        ("passed", "yes", "passed must be true or false, got 'yes'"),
        ("passed", 1, "passed must be true or false, got 1"),
        ("flaky", None, "flaky must be true or false, got null"),
        ("reason", 5, "reason must be a string or null, got 5"),
        ("message", None, "message must be a string, got null"),
        ("trace_id", ["ab"], 'trace_id must be a string, got ["ab"]'),
    ],
)
def test_a_run_value_of_the_wrong_type_is_one_line_naming_the_file_journey_run_and_field(
    tmp_path: Path, field: str, value: object, problem: str
) -> None:
    state, document = valid_state(tmp_path)
    document["runs"][JOURNEY][2][field] = value
    assert load_error(state, document) == expected(state, f"journey {JOURNEY!r}, run 3: {problem}")


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("finished_at", "x", f"finished_at must be {UNIX_TIME}, got 'x'"),
        ("duration_seconds", float("inf"), "duration_seconds must be a finite number, got Infinity"),
        ("passed", -1, "passed must be a whole number, 0 or more, got -1"),
        ("failed", 1.5, "failed must be a whole number, 0 or more, got 1.5"),
        ("failed", False, "failed must be a whole number, 0 or more, got false"),
        (
            "collection_errors",
            "boom",
            "collection_errors must be a list of [path, message] pairs of strings, got 'boom'",
        ),
        (
            "collection_errors",
            [["c.py"]],
            'collection_errors must be a list of [path, message] pairs of strings, got [["c.py"]]',
        ),
        (
            "collection_errors",
            [["c.py", 1]],
            'collection_errors must be a list of [path, message] pairs of strings, got [["c.py", 1]]',
        ),
    ],
)
def test_a_last_cycle_value_of_the_wrong_type_is_one_line_naming_the_field(
    tmp_path: Path, field: str, value: object, problem: str
) -> None:
    state, document = valid_state(tmp_path)
    document["last_cycle"][field] = value
    assert load_error(state, document) == expected(state, f"last_cycle: {problem}")


def test_a_failing_since_that_is_no_time_is_one_line_naming_the_journey(tmp_path: Path) -> None:
    state, document = valid_state(tmp_path)
    document["failing_since"][JOURNEY] = "3.0"
    problem = f"journey {JOURNEY!r}: failing_since must be {UNIX_TIME}, got '3.0'"
    assert load_error(state, document) == expected(state, problem)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: d.__setitem__("runs", []), "runs must be a JSON object, got []"),
        (lambda d: d.pop("failing_since"), "the file has no failing_since"),
        (lambda d: d["runs"].__setitem__(JOURNEY, {}), f"journey {JOURNEY!r}: runs must be a list, got {{}}"),
        (lambda d: d["runs"][JOURNEY].__setitem__(0, 5), f"journey {JOURNEY!r}, run 1 must be a JSON object, got 5"),
        (lambda d: d["runs"][JOURNEY][1].pop("passed"), f"journey {JOURNEY!r}, run 2: passed is missing"),
        (lambda d: d["last_cycle"].pop("failed"), "last_cycle: failed is missing"),
        (lambda d: d.__setitem__("last_cycle", []), "last_cycle must be a JSON object, got []"),
    ],
)
def test_a_state_file_of_the_wrong_shape_is_one_line_saying_what_is_wrong(
    tmp_path: Path, change: Callable[[dict[str, Any]], object], problem: str
) -> None:
    state, document = valid_state(tmp_path)
    change(document)
    assert load_error(state, document) == expected(state, problem)


def test_a_state_file_that_is_not_an_object_is_one_line(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text("[1, 2]")
    with pytest.raises(ConfigError) as caught:
        History(state_file=state).load()
    assert str(caught.value) == expected(state, "the file must be a JSON object, got [1, 2]")


def test_a_long_bad_value_is_cut_short_and_kept_on_one_line(tmp_path: Path) -> None:
    state, document = valid_state(tmp_path)
    document["runs"][JOURNEY][0]["message"] = ["line\n" * 1000]
    message = load_error(state, document)
    assert "\n" not in message and len(message) - len(str(state)) < 200 and "..." in message


def test_the_bad_file_is_kept(tmp_path: Path) -> None:
    state, document = valid_state(tmp_path)
    document["runs"][JOURNEY][0]["duration_seconds"] = "abc"
    load_error(state, document)
    assert json.loads(state.read_text()) == document


def test_unknown_keys_are_ignored_so_a_newer_runners_file_still_loads(tmp_path: Path) -> None:
    state, document = valid_state(tmp_path)
    before = History(state_file=state)
    before.load()
    document["runs"][JOURNEY][0]["added_later"] = {"any": "thing"}
    document["last_cycle"]["added_later"] = 1
    document["added_later"] = []
    state.write_text(json.dumps(document))
    after = History(state_file=state)
    after.load()
    assert after.as_json() == before.as_json()


def test_an_older_file_without_the_fields_added_since_loads_with_their_defaults(tmp_path: Path) -> None:
    state, document = valid_state(tmp_path)
    for run in document["runs"][JOURNEY]:
        del run["flaky"], run["trace_id"], run["message"], run["reason"]
    state.write_text(json.dumps(document))
    history = History(state_file=state)
    history.load()
    assert journey(history, JOURNEY)["state"] == "failing" and journey(history, JOURNEY)["trace_id"] == ""


def test_every_field_kept_in_a_state_file_is_checked_on_load() -> None:
    assert set(RUN_CHECKS) == {field.name for field in dataclasses.fields(Run)}
    assert set(CYCLE_CHECKS) == {field.name for field in dataclasses.fields(CycleSummary)}
    # A field the file may lack is one the runner can fill in: it has a default.
    assert {field.name for field in dataclasses.fields(Run) if field.default is dataclasses.MISSING} == RUN_REQUIRED


JSON_VALUES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=5)
    | st.lists(st.lists(st.text(max_size=3) | st.integers(), max_size=3), max_size=2)
)


@given(
    place=st.sampled_from(
        [("run", field) for field in RUN_CHECKS] + [("last_cycle", field) for field in CYCLE_CHECKS] + [("since", "")]
    ),
    value=JSON_VALUES,
)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_whatever_a_state_file_holds_it_is_refused_on_load_or_the_page_renders(
    tmp_path: Path, place: tuple[str, str], value: object
) -> None:
    state, document = valid_state(tmp_path)
    kind, field = place
    if kind == "run":
        for run in document["runs"][JOURNEY]:  # the last run is shown on its own, every run in the chart
            run[field] = value
    elif kind == "last_cycle":
        document["last_cycle"][field] = value
    else:
        document["failing_since"][JOURNEY] = value
    state.write_text(json.dumps(document))
    history = History(state_file=state)
    try:
        history.load()
    except ConfigError:
        return
    part = history.as_json()
    served: Document = {
        "generated_at": 4.0,
        "interval_seconds": 30.0,
        "location": None,
        "shard": "1/1",
        "suite_error": None,
        "last_cycle": part["last_cycle"],
        "journeys": part["journeys"],
    }
    page.render(served, 30.0, now=4.0)  # what / serves: it used to answer 500 here


@pytest.mark.slow
def test_the_real_command_exits_2_with_one_line_on_a_state_file_of_wrong_types(tmp_path: Path) -> None:
    state, document = valid_state(tmp_path)
    document["runs"][JOURNEY][2]["duration_seconds"] = "abc"
    state.write_text(json.dumps(document))
    journeys = tmp_path / "journeys"
    journeys.mkdir()
    (journeys / "test_ok.py").write_text("def test_ok():\n    pass\n")
    result = subprocess.run(
        [sys.executable, "-m", "runner", "--once", "--journeys", str(journeys), "--state-file", str(state)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    problem = f"journey {JOURNEY!r}, run 3: duration_seconds must be a number, got 'abc'"
    assert result.stderr.splitlines() == [f"synthetic-monitor: error: {expected(state, problem)}"]
    assert json.loads(state.read_text()) == document  # kept for whoever moves it aside


def test_a_degraded_run_makes_the_state_degraded_with_why() -> None:
    history = History()
    history.record(cycle(JourneyResult("a.py::test_a", True, 2.3, degraded="took 2.30 s, degraded after 1.50 s")), 1, 1)
    entry = journey(history)
    assert (entry["state"], entry["degraded"], entry["blocked_by"]) == (
        "degraded",
        "took 2.30 s, degraded after 1.50 s",
        None,
    )
    assert entry["history"][-1]["degraded"] is True and entry["history"][-1]["passed"] is True


def test_a_blocked_run_makes_the_state_blocked_naming_the_fixture() -> None:
    history = History()
    result = JourneyResult(
        "a.py::test_a", False, 0.0, "blocked", "fixture 'signed_in' (session) failed: x", blocked_by="signed_in"
    )
    history.record(cycle(result), 1, 1)
    entry = journey(history)
    assert (entry["state"], entry["reason"], entry["blocked_by"]) == ("blocked", "blocked", "signed_in")
    assert entry["failing_since"] == 1


def test_degraded_and_blocked_runs_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    history = History(state_file=path)
    degraded = JourneyResult("a.py::test_a", True, 2.3, degraded="slow")
    history.record(
        cycle(degraded, JourneyResult("a.py::test_b", False, 0.0, "blocked", "m", blocked_by="signed_in")), 1, 1
    )
    again = History(state_file=path)
    again.load()
    assert journey(again, "a.py::test_a")["degraded"] == "slow"
    assert journey(again, "a.py::test_b")["blocked_by"] == "signed_in"


def test_runs_in_a_mute_window_are_marked_muted_and_the_mark_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    history = History(state_file=path)
    history.record(cycle(bad("a.py::test_a"), ok("a.py::test_b")), 1, 1, muted=frozenset({"a.py::test_a"}))
    again = History(state_file=path)
    again.load()
    assert [run["muted"] for run in journey(again, "a.py::test_a")["history"]] == [True]
    assert [run["muted"] for run in journey(again, "a.py::test_b")["history"]] == [False]


def test_other_state_is_kept_in_the_same_file_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    history = History(state_file=path)
    history.sections["maintenance"] = lambda: [{"id": "abc", "name": "deploy"}]
    history.save()
    again = History(state_file=path)
    again.load()
    assert again.loaded_sections == {"maintenance": [{"id": "abc", "name": "deploy"}]}
