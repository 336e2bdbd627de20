"""The journey plugin: steps and labels, under plain pytest and under the runner."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from runner.handoff.results import CycleReport
from runner.record.metrics import MonitorMetrics
from runner.settings.command_line import DEFAULT_BUCKETS, Settings
from runner.supervisor.execute import Executor

JOURNEYS = """
    import pytest

    pytestmark = pytest.mark.labels(team="payments", severity="critical")

    @pytest.mark.labels(severity="warning")
    def test_customer_can_pay(step):
        with step("log in"):
            pass
        with step("pay"):
            assert 1 == 2, "card declined"
        with step("receipt"):
            pass

    def test_customer_can_browse(step):
        with step("home"):
            pass

    class TestInClass:
        pytestmark = pytest.mark.labels(team="search")

        def test_closest_wins(self):
            pass

    @pytest.mark.labels(**{"bad-name": "x"})
    def test_bad_label_name():
        pass

    @pytest.mark.labels(job="mine")
    def test_reserved_label():
        pass

    @pytest.mark.labels(team="x" * 129)
    def test_long_value():
        pass

    def test_too_many_steps(step):
        for n in range(21):
            with step(f"step {n}"):
                pass

    def test_long_step_name(step):
        with step("s" * 100):
            pass
"""


def write(folder: Path) -> Path:
    (folder / "test_pay.py").write_text(textwrap.dedent(JOURNEYS))
    return folder


def cycle(folder: Path, workers: int = 0) -> CycleReport:
    execution = Executor(Settings(journeys=folder, workers=workers, timeout_seconds=10)).execute()
    assert execution.report is not None, execution.output_tail
    return execution.report


def test_steps_and_labels_under_the_runner(tmp_path: Path) -> None:
    report = cycle(write(tmp_path))
    results = {result.journey.split("::", 1)[1]: result for result in report.results}
    pay = results["test_customer_can_pay"]
    assert pay.message.startswith("step 'pay': AssertionError: card declined")
    assert pay.reason == "assertion"
    assert [(step.name, step.passed) for step in pay.steps] == [("log in", True), ("pay", False)]
    assert [step.name for step in results["test_long_step_name"].steps] == ["s" * 64]
    too_many = results["test_too_many_steps"]
    assert not too_many.passed and "more than 20 distinct steps" in too_many.message
    for name, label in (("test_bad_label_name", "'bad-name'"), ("test_reserved_label", "'job'")):
        assert (results[name].passed, results[name].reason) == (False, "error")
        assert results[name].message.startswith(f"Failed: labels: label name {label}")
    assert results["test_long_value"].message.startswith("Failed: labels: label 'team' is 129 characters long")
    assert results["TestInClass::test_closest_wins"].passed
    assert dict(report.labels) == {
        "test_pay.py::test_customer_can_pay": (("severity", "warning"), ("team", "payments")),
        "test_pay.py::test_customer_can_browse": (("severity", "critical"), ("team", "payments")),
        "test_pay.py::TestInClass::test_closest_wins": (("severity", "critical"), ("team", "search")),
        "test_pay.py::test_too_many_steps": (("severity", "critical"), ("team", "payments")),
        "test_pay.py::test_long_step_name": (("severity", "critical"), ("team", "payments")),
    }


def test_steps_and_labels_become_series_and_bad_labels_never_do(tmp_path: Path) -> None:
    report = cycle(write(tmp_path), workers=2)
    metrics = MonitorMetrics(CollectorRegistry(), DEFAULT_BUCKETS, 30, 10)
    metrics.record_cycle(report, finished_at=0, duration_seconds=1)
    text = generate_latest(metrics.registry).decode()
    pay = 'journey="test_pay.py::test_customer_can_pay"'
    assert f'synthetic_step_duration_count{{{pay},result="success",step="log in"}} 1.0' in text
    assert f'synthetic_step_duration_count{{{pay},result="failure",step="pay"}} 1.0' in text
    assert 'step="receipt"' not in text  # after the failing step: never ran, never observed
    assert f'synthetic_journey_info{{{pay},severity="warning",team="payments"}} 1.0' in text
    assert 'synthetic_journey_info{journey="test_pay.py::test_bad_label_name"} 1.0' in text
    assert "bad-name" not in text and 'job="mine"' not in text and "x" * 129 not in text


def test_under_plain_pytest_steps_show_in_the_report_and_bad_labels_fail_alone(tmp_path: Path) -> None:
    write(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(tmp_path), "-rA", "-p", "no:cacheprovider", "-p", "no:randomly"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = done.stdout
    assert "Steps" in out and "FAILED     " in out and "pay" in out and "log in" in out
    assert "FAILED test_pay.py::test_customer_can_pay - AssertionError: card declined" in out
    assert "labels: label name 'job' is reserved" in out
    assert "2 failed, 3 passed, 3 errors" in out, out[-2000:]
