"""Retries: a failed journey runs again in the same cycle; one observation per cycle; flaky runs kept apart."""

from __future__ import annotations

import textwrap
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from runner.handoff.results import CycleReport
from runner.record.history import History
from runner.record.metrics import MonitorMetrics
from runner.settings.command_line import DEFAULT_BUCKETS, Settings
from runner.supervisor.execute import Executor

JOURNEYS = """
    import os, time
    from pathlib import Path
    import pytest

    COUNTS = Path({counts!r})

    def attempt(name):
        path = COUNTS / name
        number = int(path.read_text()) + 1 if path.exists() else 1
        path.write_text(str(number))
        return number

    def test_fails_once_then_passes(step):
        number = attempt("once")
        with step("attempt " + str(number)):
            assert number > 1, f"attempt {{number}} failed"

    def test_always_fails():
        attempt("always")
        assert False, "never works"

    def test_hangs_first_then_passes():
        if attempt("hang") == 1:
            time.sleep(30)

    def test_fails_then_crashes_then_passes():
        number = attempt("mixed")
        assert number != 1, "first attempt fails"
        if number == 2:
            os._exit(5)

    def test_crashes_first_then_passes():
        if attempt("crash") == 1:
            os._exit(3)

    @pytest.mark.flaky(reruns=0)
    def test_marker_wins_over_retries():
        attempt("marker")
        assert False
"""


def run(folder: Path, retries: int | None, workers: int = 0) -> CycleReport:
    counts = folder / "counts"
    counts.mkdir()
    journeys = folder / "journeys"
    journeys.mkdir()
    (journeys / "test_retry.py").write_text(textwrap.dedent(JOURNEYS.format(counts=str(counts))))
    settings = Settings(journeys=journeys, workers=workers, timeout_seconds=2, retries=retries)
    execution = Executor(settings).execute()
    assert execution.report is not None, execution.output_tail
    return execution.report


def test_a_journey_that_passes_on_a_retry_is_a_flaky_success(tmp_path: Path) -> None:
    report = run(tmp_path, retries=2, workers=2)
    results = {result.journey.split("::")[1]: result for result in report.results}
    once = results["test_fails_once_then_passes"]
    assert (once.passed, once.flaky, once.attempts) == (True, True, 2)
    assert "attempt 1 failed" in once.first_failure
    assert [step.name for step in once.steps] == ["attempt 2"]  # the recorded attempt's steps only
    always = results["test_always_fails"]
    assert (always.passed, always.reason, always.attempts) == (False, "assertion", 3)
    assert (tmp_path / "counts" / "always").read_text() == "3"
    crash = results["test_crashes_first_then_passes"]
    assert (crash.passed, crash.attempts) == (True, 2) and "process died (exit status 3)" in crash.first_failure
    mixed = results["test_fails_then_crashes_then_passes"]  # a death costs an attempt: 3 in all, not more
    assert (mixed.passed, mixed.attempts) == (True, 3)
    assert mixed.first_failure.startswith("AssertionError: first attempt fails")
    assert (tmp_path / "counts" / "mixed").read_text() == "3"
    marker = results["test_marker_wins_over_retries"]
    assert (marker.passed, marker.attempts) == (False, 1)


def test_every_attempt_gets_the_whole_timeout(tmp_path: Path) -> None:
    report = run(tmp_path, retries=1)
    hang = next(result for result in report.results if result.journey.endswith("test_hangs_first_then_passes"))
    assert (hang.passed, hang.attempts) == (True, 2), hang
    assert "Timeout" in hang.first_failure
    assert hang.duration_seconds < 1  # the passing attempt's own duration
    mixed = next(result for result in report.results if result.journey.endswith("test_fails_then_crashes_then_passes"))
    assert (mixed.passed, mixed.reason, mixed.attempts) == (False, "crash", 2)  # the budget was spent
    assert mixed.first_failure.startswith("AssertionError: first attempt fails")


def test_one_observation_and_one_failure_per_cycle_and_flaky_counted(tmp_path: Path) -> None:
    report = run(tmp_path, retries=2)
    metrics = MonitorMetrics(CollectorRegistry(), DEFAULT_BUCKETS, 30, 10)
    metrics.record_cycle(report, finished_at=0, duration_seconds=1)
    text = generate_latest(metrics.registry).decode()
    once, always = 'journey="test_retry.py::test_fails_once_then_passes"', 'journey="test_retry.py::test_always_fails"'
    assert f'synthetic_request_duration_count{{{once},result="success"}} 1.0' in text
    assert f'synthetic_request_duration_count{{{once},result="failure"}} 0.0' in text
    assert f"synthetic_journey_flaky_total{{{once}}} 1.0" in text
    assert f'synthetic_journey_failures_total{{{always},reason="assertion"}} 1.0' in text
    assert f"synthetic_journey_flaky_total{{{always}}} 0.0" in text
    history = History()
    history.record(report, finished_at=0, duration_seconds=1)
    state = {journey["journey"]: journey for journey in history.as_json()["journeys"]}
    assert state["test_retry.py::test_fails_once_then_passes"]["state"] == "flaky"
    assert "attempt 1 failed" in state["test_retry.py::test_fails_once_then_passes"]["message"]


def test_without_retries_a_failure_is_final(tmp_path: Path) -> None:
    report = run(tmp_path, retries=None)
    once = next(result for result in report.results if result.journey.endswith("test_fails_once_then_passes"))
    assert (once.passed, once.attempts, once.flaky) == (False, 1, False)
