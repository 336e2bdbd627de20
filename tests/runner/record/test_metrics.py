"""From results to metrics: one observation per journey, series pre-created, nothing unbounded."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from prometheus_client import CollectorRegistry, disable_created_metrics, enable_created_metrics, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from runner.handoff.results import CollectionError, CycleReport, FixtureTiming, JourneyResult, StepResult
from runner.record.metrics import MonitorMetrics
from runner.settings.command_line import DEFAULT_BUCKETS


def new_metrics() -> MonitorMetrics:
    return MonitorMetrics(CollectorRegistry(), DEFAULT_BUCKETS, interval_seconds=30, timeout_seconds=10)


def samples(metrics: MonitorMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(metrics.registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(metrics: MonitorMetrics, name: str, **labels: str) -> float | None:
    return samples(metrics).get((name, tuple(sorted(labels.items()))))


CYCLE = CycleReport(
    collected=("a.py::test_ok", "a.py::test_bad"),
    results=(
        JourneyResult("a.py::test_ok", True, 0.02),
        JourneyResult("a.py::test_bad", False, 1.5, "assertion", "assert 500 == 200"),
    ),
    collection_errors=(),
)


def test_both_result_series_exist_at_zero_before_any_run() -> None:
    metrics = new_metrics()
    metrics.add_journeys(["a.py::test_ok"])
    for result in ("success", "failure"):
        assert value(metrics, "synthetic_request_duration_count", journey="a.py::test_ok", result=result) == 0
    assert value(metrics, "synthetic_journey_success", journey="a.py::test_ok") is None


def test_each_executed_journey_is_one_observation_with_its_result_and_duration() -> None:
    metrics = new_metrics()
    metrics.record_cycle(CYCLE, finished_at=1000.0, duration_seconds=2.0)
    metrics.record_cycle(CYCLE, finished_at=1030.0, duration_seconds=2.0)
    assert value(metrics, "synthetic_request_duration_count", journey="a.py::test_ok", result="success") == 2
    assert value(metrics, "synthetic_request_duration_count", journey="a.py::test_ok", result="failure") == 0
    assert value(metrics, "synthetic_request_duration_count", journey="a.py::test_bad", result="failure") == 2
    assert value(metrics, "synthetic_request_duration_sum", journey="a.py::test_bad", result="failure") == 3.0
    assert (
        value(metrics, "synthetic_request_duration_bucket", journey="a.py::test_ok", result="success", le="0.025") == 2
    )


def test_last_result_gauge_and_failure_reasons() -> None:
    metrics = new_metrics()
    metrics.record_cycle(CYCLE, finished_at=1000.0, duration_seconds=2.0)
    assert value(metrics, "synthetic_journey_success", journey="a.py::test_ok") == 1
    assert value(metrics, "synthetic_journey_success", journey="a.py::test_bad") == 0
    assert value(metrics, "synthetic_journey_failures_total", journey="a.py::test_bad", reason="assertion") == 1
    # A reason's series appears when it first happens: eight reasons do not cost eight series per journey.
    assert value(metrics, "synthetic_journey_failures_total", journey="a.py::test_bad", reason="timeout") is None
    assert value(metrics, "synthetic_journey_failures_total", journey="a.py::test_ok", reason="assertion") is None


def test_cycle_numbers() -> None:
    metrics = new_metrics()
    broken = CycleReport(CYCLE.collected, CYCLE.results, (CollectionError("b.py", "SyntaxError"),))
    metrics.record_cycle(broken, finished_at=1234.5, duration_seconds=3.25)
    metrics.record_skipped(2)
    metrics.record_error()
    assert value(metrics, "synthetic_runs_total", status="completed") == 1
    assert value(metrics, "synthetic_runs_total", status="skipped") == 2
    assert value(metrics, "synthetic_runs_total", status="error") == 1
    assert value(metrics, "synthetic_last_run_timestamp_seconds") == 1234.5
    assert value(metrics, "synthetic_last_cycle_duration_seconds") == 3.25
    assert value(metrics, "synthetic_collection_errors") == 1
    assert value(metrics, "synthetic_journeys") == 2
    assert value(metrics, "synthetic_interval_seconds") == 30


def test_run_statuses_exist_at_zero_from_the_start() -> None:
    metrics = new_metrics()
    for status in ("completed", "skipped", "error"):
        assert value(metrics, "synthetic_runs_total", status=status) == 0


def test_deleted_journeys_lose_their_series_after_a_clean_collection() -> None:
    metrics = new_metrics()
    metrics.record_cycle(CYCLE, finished_at=1.0, duration_seconds=1.0)
    only_ok = CycleReport(("a.py::test_ok",), (JourneyResult("a.py::test_ok", True, 0.01),), ())
    metrics.record_cycle(only_ok, finished_at=2.0, duration_seconds=1.0)
    assert not [key for key in samples(metrics) if ("journey", "a.py::test_bad") in key[1]]


def test_journeys_of_a_broken_file_keep_their_series() -> None:
    metrics = new_metrics()
    metrics.record_cycle(CYCLE, finished_at=1.0, duration_seconds=1.0)
    broken = CycleReport(("a.py::test_ok",), (), (CollectionError("a.py", "SyntaxError"),))
    metrics.record_cycle(broken, finished_at=2.0, duration_seconds=1.0)
    assert value(metrics, "synthetic_request_duration_count", journey="a.py::test_bad", result="failure") == 1


def test_a_journeys_step_info_and_flaky_series_go_when_the_journey_goes() -> None:
    metrics = new_metrics()
    steps = (StepResult("log in", 0.1, True), StepResult("pay", 0.2, False))
    rich = JourneyResult("pay.py::test_pay", True, 0.3, steps=steps, attempts=2, first_failure="declined")
    labels = (("pay.py::test_pay", (("team", "payments"),)),)
    metrics.record_cycle(CycleReport(("pay.py::test_pay",), (rich,), (), labels=labels), 1.0, 1.0)
    text = generate_latest(metrics.registry).decode()
    assert 'synthetic_step_duration_count{journey="pay.py::test_pay",result="failure",step="pay"} 1.0' in text
    assert 'synthetic_journey_info{journey="pay.py::test_pay",team="payments"} 1.0' in text
    assert 'synthetic_journey_flaky_total{journey="pay.py::test_pay"} 1.0' in text
    metrics.record_cycle(CycleReport(("other.py::test_x",), (), ()), 2.0, 1.0)
    assert "pay.py::test_pay" not in generate_latest(metrics.registry).decode()


def test_shared_fixture_time_is_its_own_histogram() -> None:
    metrics = new_metrics()
    timing = FixtureTiming("browser", "session", "setup", 1.5)
    metrics.record_cycle(CycleReport((), (), (), fixtures=(timing,)), 1.0, 1.0)
    sample = 'synthetic_fixture_duration_sum{fixture="browser",phase="setup",scope="session"} 1.5'
    assert sample in generate_latest(metrics.registry).decode()


def test_no_created_series_when_disabled() -> None:
    disable_created_metrics()  # type: ignore[no-untyped-call]
    try:
        metrics = new_metrics()
        metrics.record_cycle(CYCLE, finished_at=1.0, duration_seconds=1.0)
        assert "_created" not in generate_latest(metrics.registry).decode()
    finally:
        enable_created_metrics()  # type: ignore[no-untyped-call]


def test_promtool_accepts_the_exposition() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing in CI; .ci/run installs the Debian package prometheus")
        pytest.skip("promtool not installed (Debian package prometheus)")
    metrics = new_metrics()
    metrics.record_cycle(CYCLE, finished_at=1.0, duration_seconds=1.0)
    result = subprocess.run(
        [promtool, "check", "metrics"], input=generate_latest(metrics.registry), capture_output=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout + result.stderr == b""


def blocked(journey: str, fixture: str = "signed_in") -> JourneyResult:
    message = f"fixture {fixture!r} (session) failed: ConnectionError: refused"
    return JourneyResult(journey, False, 0.001, "blocked", message, blocked_by=fixture)


def test_a_degraded_run_is_a_success_counted_apart() -> None:
    metrics = new_metrics()
    slow = JourneyResult("a.py::test_ok", True, 2.31, degraded="took 2.31 s, degraded after 1.50 s")
    metrics.record_cycle(CycleReport(("a.py::test_ok",), (slow,), ()), finished_at=1000.0, duration_seconds=3.0)
    assert value(metrics, "synthetic_request_duration_count", journey="a.py::test_ok", result="success") == 1
    assert value(metrics, "synthetic_journey_degraded_total", journey="a.py::test_ok") == 1
    assert value(metrics, "synthetic_journey_success", journey="a.py::test_ok") == 1


def test_the_degraded_counter_exists_at_zero_before_any_degraded_run() -> None:
    metrics = new_metrics()
    metrics.record_cycle(CYCLE, finished_at=1000.0, duration_seconds=2.0)
    assert value(metrics, "synthetic_journey_degraded_total", journey="a.py::test_ok") == 0
    assert value(metrics, "synthetic_journey_degraded_total", journey="a.py::test_bad") == 0


def test_a_fixture_that_blocks_journeys_counts_once_a_cycle_and_says_how_many() -> None:
    metrics = new_metrics()
    journeys = tuple(f"a.py::test_{n}" for n in range(12))
    cycle = CycleReport(journeys, tuple(blocked(journey) for journey in journeys), ())
    metrics.record_cycle(cycle, finished_at=1000.0, duration_seconds=1.0)
    metrics.record_cycle(cycle, finished_at=1030.0, duration_seconds=1.0)
    assert value(metrics, "synthetic_fixture_failures_total", fixture="signed_in") == 2
    assert value(metrics, "synthetic_fixture_blocked_journeys", fixture="signed_in") == 12
    assert value(metrics, "synthetic_journey_blocked", journey="a.py::test_3", fixture="signed_in") == 1
    assert value(metrics, "synthetic_journey_failures_total", journey="a.py::test_3", reason="blocked") == 2


def test_once_the_fixture_recovers_its_gauge_and_the_journeys_blocked_series_go() -> None:
    metrics = new_metrics()
    metrics.record_cycle(CycleReport(("a.py::test_a",), (blocked("a.py::test_a"),), ()), 1000.0, 1.0)
    metrics.record_cycle(CycleReport(("a.py::test_a",), (JourneyResult("a.py::test_a", True, 0.01),), ()), 1030.0, 1.0)
    assert value(metrics, "synthetic_fixture_blocked_journeys", fixture="signed_in") is None
    assert value(metrics, "synthetic_journey_blocked", journey="a.py::test_a", fixture="signed_in") is None
    assert value(metrics, "synthetic_fixture_failures_total", fixture="signed_in") == 1


def test_a_journey_that_never_failed_costs_2b_plus_12_series() -> None:
    # 2B + 6 histogram series, success, info, flaky, degraded, interval, maintenance: docs/scaling.md, section 3.
    metrics = new_metrics()
    metrics.record_cycle(CYCLE, finished_at=1000.0, duration_seconds=2.0)
    per_journey = [key for key in samples(metrics) if ("journey", "a.py::test_ok") in key[1]]
    assert len(per_journey) == 2 * len(DEFAULT_BUCKETS) + 12


def test_every_journey_exports_its_interval_its_own_or_the_runners() -> None:
    metrics = new_metrics()
    cycle = CycleReport(CYCLE.collected, CYCLE.results, (), periods=(("a.py::test_bad", 300.0),))
    metrics.record_cycle(cycle, finished_at=1000.0, duration_seconds=2.0)
    assert value(metrics, "synthetic_journey_interval_seconds", journey="a.py::test_bad") == 300
    assert value(metrics, "synthetic_journey_interval_seconds", journey="a.py::test_ok") == 30


def test_a_muted_run_is_counted_apart_and_in_no_series_an_alert_reads() -> None:
    metrics = new_metrics()
    metrics.record_cycle(CYCLE, finished_at=1000.0, duration_seconds=2.0, muted=frozenset({"a.py::test_bad"}))
    assert value(metrics, "synthetic_journey_muted_runs_total", journey="a.py::test_bad", result="failure") == 1
    assert value(metrics, "synthetic_journey_muted_runs_total", journey="a.py::test_bad", result="success") == 0
    assert value(metrics, "synthetic_request_duration_count", journey="a.py::test_bad", result="failure") == 0
    assert value(metrics, "synthetic_journey_failures_total", journey="a.py::test_bad", reason="assertion") is None
    assert value(metrics, "synthetic_journey_muted_runs_total", journey="a.py::test_ok", result="success") is None
    assert value(metrics, "synthetic_request_duration_count", journey="a.py::test_ok", result="success") == 1


def test_a_fixture_keeps_blocking_the_journeys_not_due_in_this_cycle() -> None:
    # A journey with its own interval runs in one cycle of several: its fixture's page must not flap meanwhile.
    metrics = new_metrics()
    journeys = ("a.py::test_a", "a.py::test_b")
    metrics.record_cycle(CycleReport(journeys, (blocked("a.py::test_a"), blocked("a.py::test_b")), ()), 1000.0, 1.0)
    metrics.record_cycle(CycleReport(journeys, (blocked("a.py::test_a"),), (), not_due=1), 1030.0, 1.0)
    assert value(metrics, "synthetic_fixture_blocked_journeys", fixture="signed_in") == 2
    assert value(metrics, "synthetic_journey_blocked", journey="a.py::test_b", fixture="signed_in") == 1


def test_a_fixture_that_blocks_only_muted_journeys_counts_no_failure_and_blocks_none() -> None:
    metrics = new_metrics()
    cycle = CycleReport(("a.py::test_a",), (blocked("a.py::test_a"),), ())
    metrics.record_cycle(cycle, 1000.0, 1.0, muted=frozenset({"a.py::test_a"}))
    assert value(metrics, "synthetic_fixture_blocked_journeys", fixture="signed_in") is None
    assert value(metrics, "synthetic_fixture_failures_total", fixture="signed_in") is None


def test_a_journey_with_an_slo_exports_its_objective_window_and_the_runs_that_count() -> None:
    metrics = new_metrics()
    slos = (("a.py::test_bad", (0.999, 30 * 86400)),)
    cycle = CycleReport(CYCLE.collected, CYCLE.results, (), slos=slos)
    metrics.add_collection(cycle)
    assert value(metrics, "synthetic_journey_slo_runs_total", journey="a.py::test_bad", result="failure") == 0
    metrics.record_cycle(cycle, 1000.0, 1.0)
    metrics.record_cycle(cycle, 1030.0, 1.0, muted=frozenset({"a.py::test_bad"}))  # left out of the SLO
    assert value(metrics, "synthetic_journey_slo_objective", journey="a.py::test_bad") == 0.999
    assert value(metrics, "synthetic_journey_slo_window_seconds", journey="a.py::test_bad") == 2592000
    assert value(metrics, "synthetic_journey_slo_runs_total", journey="a.py::test_bad", result="failure") == 1
    assert value(metrics, "synthetic_journey_slo_runs_total", journey="a.py::test_bad", result="success") == 0
    assert value(metrics, "synthetic_journey_slo_objective", journey="a.py::test_ok") is None
