"""Converting pytest-json-report documents into journey results, from real reports saved as fixtures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runner.report import (
    CRASH_PREFIX,
    KILLED_PREFIX,
    JourneyResult,
    classify,
    journey_result,
    parse_report,
)

FIXTURES = Path(__file__).parent / "fixtures"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


@pytest.fixture(params=["plain.json", "xdist.json"])
def report(request: pytest.FixtureRequest) -> dict[str, Any]:
    return load(request.param)


def by_journey(report: dict[str, Any]) -> dict[str, JourneyResult]:
    return {result.journey: result for result in parse_report(report, "journeys").results}


def test_passed_test_is_a_success_with_its_full_duration(report: dict[str, Any]) -> None:
    result = by_journey(report)["test_sample.py::test_passes"]
    test = next(t for t in report["tests"] if t["nodeid"].endswith("::test_passes"))
    assert result.passed and result.reason is None
    assert result.duration_seconds == pytest.approx(sum(test[s]["duration"] for s in ("setup", "call", "teardown")))


def test_failed_assertion_is_a_failure_with_its_message(report: dict[str, Any]) -> None:
    result = by_journey(report)["test_sample.py::test_fails"]
    assert not result.passed
    assert result.reason == "assertion"
    assert result.headline == "AssertionError: POST /reservations answered 500"
    assert result.message == "AssertionError: POST /reservations answered 500\nassert 500 == 200"


def test_bare_assert_and_pytest_fail_count_as_assertions(report: dict[str, Any]) -> None:
    results = by_journey(report)
    assert results["test_sample.py::test_fails_bare_assert"].reason == "assertion"
    assert results["test_sample.py::test_pytest_fail"].reason == "assertion"


def test_exception_in_the_journey_is_an_error(report: dict[str, Any]) -> None:
    result = by_journey(report)["test_sample.py::test_raises"]
    assert (result.passed, result.reason) == (False, "error")
    assert result.message == "ConnectionError: Connection refused"


def test_setup_and_teardown_errors_are_failures(report: dict[str, Any]) -> None:
    results = by_journey(report)
    setup, teardown = (
        results["test_sample.py::test_setup_error"],
        results["test_sample.py::test_teardown_error"],
    )
    assert (setup.passed, setup.reason, setup.message) == (
        False,
        "error",
        "RuntimeError: database unreachable",
    )
    assert (teardown.passed, teardown.reason, teardown.message) == (
        False,
        "error",
        "RuntimeError: cleanup failed",
    )


def test_skipped_and_xfailed_give_no_observation(report: dict[str, Any]) -> None:
    results = by_journey(report)
    assert "test_sample.py::test_skipped" not in results
    assert "test_sample.py::test_xfail" not in results


def test_xpassed_is_a_success(report: dict[str, Any]) -> None:
    assert by_journey(report)["test_sample.py::test_xpass"].passed


def test_parametrized_journeys_keep_their_ids(report: dict[str, Any]) -> None:
    results = by_journey(report)
    assert results["test_sample.py::test_param[200]"].passed
    assert not results["test_sample.py::test_param[404]"].passed
    assert not results["test_sample.py::test_param[<script>]"].passed


def test_pytest_timeout_is_a_timeout(report: dict[str, Any]) -> None:
    result = by_journey(report)["test_slow.py::test_times_out"]
    assert (result.passed, result.reason) == (False, "timeout")


def test_plain_and_xdist_reports_give_the_same_results() -> None:
    def outcome(report: dict[str, Any]) -> dict[str, tuple[bool, str | None, str]]:
        return {j: (r.passed, r.reason, r.headline) for j, r in by_journey(report).items()}

    assert outcome(load("plain.json")) == outcome(load("xdist.json"))


def test_collection_error_names_the_file_and_the_journeys_still_count(report: dict[str, Any]) -> None:
    cycle = parse_report(report, "journeys")
    assert [(e.path, e.message) for e in cycle.collection_errors] == [
        ("test_broken.py", "ModuleNotFoundError: No module named 'not_a_module_anywhere'")
    ]
    assert len(cycle.results) == 12


def test_collected_lists_selected_items_without_collectors_or_deselected() -> None:
    cycle = parse_report(load("collect.json"), "journeys")
    assert "test_slow.py::test_times_out" not in cycle.collected  # deselected with -k
    assert "test_sample.py" not in cycle.collected
    assert len(cycle.collected) == 13
    assert cycle.results == ()


def test_journey_ids_are_relative_to_an_absolute_journeys_folder() -> None:
    cycle = parse_report(load("plain.json"), "/srv/monitor/journeys")
    assert "test_sample.py::test_passes" in {r.journey for r in cycle.results}


def test_journeys_folder_at_the_root_leaves_ids_unchanged() -> None:
    report = {"root": "/srv/j", "tests": [{"nodeid": "test_a.py::test_b", "outcome": "passed"}]}
    assert parse_report(report, "/srv/j").results[0].journey == "test_a.py::test_b"


def test_runner_crash_and_kill_texts_are_crash_and_timeout() -> None:
    crashed = {
        "nodeid": "t.py::c",
        "outcome": "failed",
        "call": {"outcome": "failed", "longrepr": f"{CRASH_PREFIX} (signal 11)"},
    }
    killed = {
        "nodeid": "t.py::k",
        "outcome": "failed",
        "setup": {"outcome": "failed", "longrepr": f"{KILLED_PREFIX} of 2s"},
    }
    assert journey_result(crashed) == JourneyResult("t.py::c", False, 0.0, "crash", f"{CRASH_PREFIX} (signal 11)")
    assert journey_result(killed).reason == "timeout"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("stage", "message", "reason"),
    [
        ("call", "AssertionError: x", "assertion"),
        ("setup", "AssertionError: x", "error"),
        ("call", "requests.exceptions.ReadTimeout: read timed out", "error"),
        ("teardown", "Failed: Timeout (>2.0s) from pytest-timeout.", "timeout"),
    ],
)
def test_classify(stage: str, message: str, reason: str) -> None:
    assert classify(stage, message) == reason
