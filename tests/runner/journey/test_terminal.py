"""The terminal summary of verdicts, from pytest's own reports carrying them: failures with their reason, degraded
runs with why, and blocked journeys grouped under the fixture that blocked them."""

from __future__ import annotations

from typing import Any, Literal, cast

import pytest

from runner.journey.terminal import VerdictSummary

REFUSED = "ConnectionRefusedError: [Errno 111] Connection refused"


class Terminal:
    """What the summary writes, line by line, as pytest's TerminalReporter would show it."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write_sep(self, sep: str, title: str = "", **markup: bool) -> None:
        self.lines.append(f"{sep * 3} {title} {sep * 3}")

    def write_line(self, line: str, **markup: bool) -> None:
        self.lines.append(line)


def report(
    nodeid: str, when: Literal["setup", "call", "teardown"] = "call", longrepr: str = "", **verdict: str
) -> pytest.TestReport:
    """A report as the journey plugin leaves it: failed when it has a message, with its verdict attributes."""
    made = pytest.TestReport(
        nodeid,
        (nodeid.partition("::")[0], 0, nodeid),
        {},
        "failed" if longrepr else "passed",
        longrepr or None,
        when,
    )
    for name, value in verdict.items():
        setattr(made, f"synthetic_{name}", value)
    return made


def summary(*reports: pytest.TestReport) -> list[str]:
    verdicts = VerdictSummary()
    for each in reports:
        verdicts.pytest_runtest_logreport(each)
    terminal = Terminal()
    verdicts.pytest_terminal_summary(cast(Any, terminal))
    return terminal.lines


def test_a_session_without_verdicts_adds_nothing_to_the_summary() -> None:
    assert summary(report("t.py::test_a"), report("t.py::test_a", "teardown")) == []


def test_failures_degraded_runs_and_blocks_are_listed_in_that_order_under_one_heading() -> None:
    lines = summary(
        report("t.py::test_slow", "teardown", degraded="took 2.31 s, degraded after 1.50 s"),
        report("t.py::test_book", "setup", REFUSED, reason="blocked", blocked_by="signed_in (session)"),
        report("t.py::test_pay", "call", "AssertionError: card declined", reason="assertion"),
    )
    assert lines == [
        "=== synthetic-monitor verdicts ===",
        "FAILED (assertion) t.py::test_pay",
        "DEGRADED t.py::test_slow - took 2.31 s, degraded after 1.50 s",
        f"BLOCKED 1 journey (t.py::test_book) by fixture signed_in (session): {REFUSED}",
    ]


def test_failures_keep_the_order_they_happened_in() -> None:
    lines = summary(
        report("t.py::test_b", "call", "requests.exceptions.HTTPError: 503", reason="http"),
        report("t.py::test_a", "setup", "RuntimeError: x", reason="error"),
        report("t.py::test_c", "call", "Failed: Timeout (>1.0s) from pytest-timeout.", reason="timeout"),
    )
    assert lines[1:] == ["FAILED (http) t.py::test_b", "FAILED (error) t.py::test_a", "FAILED (timeout) t.py::test_c"]


def test_a_blocked_journey_is_not_also_listed_as_failed() -> None:
    lines = summary(report("t.py::test_book", "setup", REFUSED, reason="blocked", blocked_by="signed_in (session)"))
    assert not [line for line in lines if line.startswith("FAILED")]


def test_blocked_journeys_are_grouped_per_fixture_showing_three_and_counting_the_rest() -> None:
    blocked = [
        report(f"t.py::test_{n}", "setup", REFUSED, reason="blocked", blocked_by="signed_in (session)")
        for n in range(5)
    ]
    other = report("t.py::test_stock", "setup", "RuntimeError: inventory unavailable", blocked_by="inventory (module)")
    lines = summary(*blocked[:2], other, *blocked[2:])
    assert lines[1:] == [
        "BLOCKED 5 journeys (t.py::test_0, t.py::test_1, t.py::test_2 and 2 more) by fixture signed_in (session): "
        f"{REFUSED}",
        "BLOCKED 1 journey (t.py::test_stock) by fixture inventory (module): RuntimeError: inventory unavailable",
    ]


def test_exactly_three_blocked_journeys_are_all_shown() -> None:
    lines = summary(*(report(f"t.py::test_{n}", "setup", REFUSED, blocked_by="signed_in (session)") for n in range(3)))
    assert (
        lines[1]
        == f"BLOCKED 3 journeys (t.py::test_0, t.py::test_1, t.py::test_2) by fixture signed_in (session): {REFUSED}"
    )


def test_a_blocked_group_shows_the_first_line_of_the_first_journeys_error() -> None:
    lines = summary(
        report("t.py::test_a", "setup", f"\n{REFUSED}\nduring handling of ...", blocked_by="signed_in (session)"),
        report("t.py::test_b", "setup", "something else entirely", blocked_by="signed_in (session)"),
    )
    assert lines[1].endswith(f"by fixture signed_in (session): {REFUSED}")


def test_every_degraded_run_is_listed_with_why() -> None:
    lines = summary(
        report("t.py::test_a", "teardown", degraded="served from the fallback"),
        report("t.py::test_b", "teardown", degraded="step 'search' took 0.70 s, degraded after 0.50 s"),
    )
    assert lines[1:] == [
        "DEGRADED t.py::test_a - served from the fallback",
        "DEGRADED t.py::test_b - step 'search' took 0.70 s, degraded after 0.50 s",
    ]


def test_an_attempt_that_pytest_rerunfailures_runs_again_is_no_verdict() -> None:
    retried = report("t.py::test_pay", "call", "AssertionError: card declined", reason="assertion")
    retried.outcome = "rerun"  # type: ignore[assignment]  # what pytest-rerunfailures makes of a retried failure
    assert summary(retried, report("t.py::test_pay"), report("t.py::test_pay", "teardown")) == []
