"""Time on fixtures wider than a journey is kept out of the journey's duration and reported on its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.settings.command_line import Settings
from runner.supervisor.execute import Executor
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
