"""The --once table."""

from __future__ import annotations

from runner.handoff.results import CollectionError, CycleReport, JourneyResult
from runner.record.summary import render


def test_table_lists_failures_first_with_reason_and_message_then_totals() -> None:
    cycle = CycleReport(
        collected=(),
        results=(
            JourneyResult("a.py::test_ok", True, 0.012),
            JourneyResult("a.py::test_bad", False, 1.5, "timeout", "Failed: Timeout (>1.0s) from pytest-timeout."),
        ),
        collection_errors=(CollectionError("b.py", "SyntaxError: invalid syntax"),),
    )
    lines = render(cycle, 2.0).splitlines()
    assert lines[1].split() == ["FAILED", "1.500", "a.py::test_bad"]
    assert lines[2].strip() == "timeout: Failed: Timeout (>1.0s) from pytest-timeout."
    assert lines[3].split() == ["passed", "0.012", "a.py::test_ok"]
    assert lines[4].split() == ["BROKEN", "b.py"]
    assert lines[-1] == "1 passed, 1 failed, 1 collection errors in 2.00s"


def test_degraded_runs_say_why_and_blocked_ones_name_the_fixture() -> None:
    cycle = CycleReport(
        collected=(),
        results=(
            JourneyResult("a.py::test_slow", True, 2.31, degraded="took 2.31 s, degraded after 1.50 s"),
            JourneyResult("a.py::test_ok", True, 0.01),
            JourneyResult(
                "a.py::test_b",
                False,
                0.0,
                "blocked",
                "fixture 'signed_in' (session) failed: boom",
                blocked_by="signed_in",
            ),
        ),
        collection_errors=(),
    )
    lines = render(cycle, 2.5).splitlines()
    assert lines[1].split() == ["FAILED", "0.000", "a.py::test_b"]
    assert lines[2].strip() == "blocked: fixture 'signed_in' (session) failed: boom"
    assert lines[3].split() == ["DEGRADED", "2.310", "a.py::test_slow"]
    assert lines[4].strip() == "took 2.31 s, degraded after 1.50 s"
    assert lines[-1] == "2 passed (1 degraded), 1 failed, 0 collection errors in 2.50s"


def test_muted_failures_and_paused_journeys_say_so() -> None:
    cycle = CycleReport(
        collected=(),
        results=(JourneyResult("a.py::test_search", False, 0.1, "assertion", "assert 500 == 200"),),
        collection_errors=(),
        paused=("a.py::test_pay",),
    )
    lines = render(cycle, 1.0, muted=frozenset({"a.py::test_search"})).splitlines()
    assert lines[1].split() == ["MUTED", "0.100", "a.py::test_search"]
    assert lines[3].split() == ["PAUSED", "a.py::test_pay"]
    assert lines[-1] == "0 passed, 1 failed, 0 collection errors, 1 paused in 1.00s"
