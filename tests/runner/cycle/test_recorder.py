"""Time on fixtures wider than a journey is kept out of the journey's duration and reported on its own; each
journey's verdict (reason, blocked, degraded) is made where it ran and arrives whole."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from runner.record.metrics import MonitorMetrics
from runner.settings.command_line import Settings
from runner.supervisor.execute import Executor
from tests.processes import free_port
from tests.runner.supervisor.test_execute import write

SHARED_SETUP_SECONDS = 0.4

SUITE = f"""
    import time, unittest
    import pytest

    @pytest.fixture(scope="session")
    def browser():
        time.sleep({SHARED_SETUP_SECONDS})
        yield "browser"
        time.sleep({SHARED_SETUP_SECONDS})

    @pytest.fixture(scope="module")
    def login(browser):
        time.sleep({SHARED_SETUP_SECONDS})
        return "session"

    def test_first(login):
        pass

    def test_second(login):
        pass

    def test_own_time():
        time.sleep(0.1)

    class TestUnittestStyle(unittest.TestCase):
        @classmethod
        def setUpClass(cls):
            time.sleep({SHARED_SETUP_SECONDS})

        @classmethod
        def tearDownClass(cls):
            time.sleep({SHARED_SETUP_SECONDS})

        def test_one_line(self):
            self.assertTrue(True)
"""


@pytest.mark.parametrize("workers", [0, 2])
def test_wide_fixture_setup_and_teardown_are_not_charged_to_journeys(tmp_path: Path, workers: int) -> None:
    write(tmp_path, "test_shared.py", SUITE)
    execution = Executor(Settings(journeys=tmp_path, workers=workers, timeout_seconds=10)).execute()
    report = execution.report
    assert report is not None, execution.output_tail
    durations = {result.journey: result.duration_seconds for result in report.results}
    assert len(durations) == 4 and all(result.passed for result in report.results)
    for journey, seconds in durations.items():
        if journey.endswith("test_own_time"):
            assert 0.1 <= seconds < 0.1 + SHARED_SETUP_SECONDS / 2
        else:
            assert seconds < SHARED_SETUP_SECONDS / 2, (journey, seconds)
    timings = {(t.fixture, t.scope, t.phase) for t in report.fixtures if t.seconds >= SHARED_SETUP_SECONDS * 0.9}
    expected = {("browser", "session", "setup"), ("browser", "session", "teardown"), ("login", "module", "setup")}
    assert expected <= timings
    assert {(t.scope, t.phase) for t in report.fixtures if t.fixture.startswith("_unittest_setUpClass")} >= {
        ("class", "setup"),
        ("class", "teardown"),
    }


def test_journey_time_itself_still_counts_in_full(tmp_path: Path) -> None:
    write(tmp_path, "test_own.py", "import time\n\ndef test_sleeps():\n    time.sleep(0.3)\n")
    # Without pytest-playwright, whose autouse session fixture would show up among the fixtures.
    settings = Settings(journeys=tmp_path, timeout_seconds=10, pytest_args=("-p", "no:playwright"))
    execution = Executor(settings).execute()
    assert execution.report is not None
    (result,) = execution.report.results
    assert 0.3 <= result.duration_seconds < 0.5
    assert execution.report.fixtures == ()


VERDICTS = """
    import time
    import pytest
    import requests

    @pytest.fixture(scope="session")
    def signed_in():
        requests.get("http://127.0.0.1:{closed_port}/login", timeout=2)

    @pytest.fixture
    def own_fixture():
        raise KeyError("not shared")

    @pytest.mark.parametrize("n", range(10))
    def test_needs_sign_in(signed_in, n):
        pass

    def test_own_fixture_fails(own_fixture):
        pass

    @pytest.mark.degraded_after(0.05)
    def test_slow_search(step):
        with step("search"):
            time.sleep(0.2)

    def test_slower_than_the_default():
        time.sleep(0.2)

    def test_fallback(degrade):
        degrade("answered from the fallback cache")

    def test_refused():
        requests.get("http://127.0.0.1:{closed_port}/", timeout=2)
"""


@pytest.mark.parametrize("workers", [0, 2])
def test_under_the_runner_each_journey_gets_its_verdict_and_a_failed_fixture_counts_once(
    tmp_path: Path, workers: int
) -> None:
    closed_port = free_port()  # nothing listens there: connection refused
    write(tmp_path, "test_verdicts.py", VERDICTS.replace("{closed_port}", str(closed_port)))
    settings = Settings(journeys=tmp_path, workers=workers, timeout_seconds=10, degraded_after_seconds=0.1)
    execution = Executor(settings).execute()
    assert execution.report is not None, execution.output_tail
    results = {result.journey.partition("::")[2]: result for result in execution.report.results}
    blocked = [result for name, result in results.items() if name.startswith("test_needs_sign_in")]
    assert len(blocked) == 10
    assert {(r.passed, r.reason, r.blocked_by) for r in blocked} == {(False, "blocked", "signed_in")}
    assert all(r.message.startswith("fixture 'signed_in' (session) failed: ") for r in blocked)
    assert (results["test_own_fixture_fails"].reason, results["test_own_fixture_fails"].blocked_by) == ("error", "")
    assert results["test_refused"].reason == "network"
    assert results["test_slow_search"].passed and results["test_slow_search"].state == "degraded"
    assert "degraded after 0.05 s" in results["test_slow_search"].degraded  # the marker beats --degraded-after
    assert "degraded after 0.10 s" in results["test_slower_than_the_default"].degraded
    assert results["test_fallback"].degraded == "answered from the fallback cache"
    metrics = MonitorMetrics(CollectorRegistry(), (0.1, 1.0), interval_seconds=30, timeout_seconds=10)
    metrics.record_cycle(execution.report, finished_at=1000.0, duration_seconds=1.0)
    text = generate_latest(metrics.registry).decode()
    # Both workers hit the failing session fixture; the cycle counts it once.
    assert 'synthetic_fixture_failures_total{fixture="signed_in"} 1.0' in text
    assert 'synthetic_fixture_blocked_journeys{fixture="signed_in"} 10.0' in text


def test_with_the_journey_plugin_disabled_wide_fixtures_are_still_kept_apart(tmp_path: Path) -> None:
    write(tmp_path, "test_shared.py", SUITE)
    settings = Settings(journeys=tmp_path, timeout_seconds=10, pytest_args=("-p", "no:synthetic_monitor"))
    execution = Executor(settings).execute()
    assert execution.report is not None, execution.output_tail
    assert len(execution.report.results) == 4 and all(result.passed for result in execution.report.results)
    assert ("browser", "session", "setup") in {(t.fixture, t.scope, t.phase) for t in execution.report.fixtures}


SLOS = """
    import pytest

    @pytest.mark.slo(objective=0.999)
    def test_pay():
        pass

    @pytest.mark.slo(objective=0.99, window="7d")
    def test_search():
        pass

    @pytest.mark.slo(objective=1.5)
    def test_impossible():
        pass

    @pytest.mark.slo(objective=0.99, window="2w")
    def test_unknown_window():
        pass
"""


def test_a_journey_s_slo_travels_with_the_cycle_and_a_bad_one_fails_it_naming_the_rule(tmp_path: Path) -> None:
    write(tmp_path, "test_slo.py", SLOS)
    report = Executor(Settings(journeys=tmp_path, timeout_seconds=10)).execute().report
    assert report is not None
    assert report.slos == (("test_slo.py::test_pay", (0.999, 2592000)), ("test_slo.py::test_search", (0.99, 604800)))
    failed = {result.journey.partition("::")[2]: result.message for result in report.results if not result.passed}
    assert failed == {
        "test_impossible": "Failed: @pytest.mark.slo(objective=...) must be a share between 0 and 1 such as 0.999, "
        "got 1.5",
        "test_unknown_window": "Failed: @pytest.mark.slo(window=...) must be one of '7d', '28d', '30d', got '2w'",
    }
