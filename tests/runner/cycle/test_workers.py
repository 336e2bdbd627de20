"""The worker pool's process handling: what workers share (its policy is tested in test_dealing.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from runner.settings.command_line import Settings
from runner.settings.maintenance import Selector
from runner.supervisor.execute import Executor
from tests.processes import journeys

KEEPS_A_FILE = """
import time


def test_keeps_a_file_{n}(tmp_path):
    (tmp_path / "kept").write_text("{n}")
    time.sleep(0.3)  # meanwhile another worker starts its first journey with a tmp_path
    assert (tmp_path / "kept").read_text() == "{n}"
"""


def test_journeys_in_different_workers_keep_their_tmp_path(tmp_path: Path) -> None:
    # pytest empties a given --basetemp the first time a process asks for it; each worker asking would delete
    # the other workers' folders under their journeys (FileNotFoundError, as anyio's pytester tests showed).
    folder = journeys(tmp_path, {f"test_keeps_{n}.py": KEEPS_A_FILE.format(n=n) for n in range(4)})
    done = subprocess.run(
        [sys.executable, "-m", "runner", "--once", "--journeys", str(folder), "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 passed, 0 failed" in done.stdout


OWN_INTERVALS = """
    import pytest

    @pytest.mark.interval(3)
    def test_every_third_cycle():
        pass

    def test_every_cycle():
        pass

    @pytest.mark.interval(1.5)
    def test_no_multiple():
        pass
"""


@pytest.mark.parametrize("workers", [0, 2])
def test_a_journey_with_its_own_interval_runs_only_in_the_cycles_it_is_due(tmp_path: Path, workers: int) -> None:
    folder = journeys(tmp_path, {"test_intervals.py": OWN_INTERVALS})
    executor = Executor(Settings(journeys=folder, interval_seconds=1, workers=workers, timeout_seconds=10))
    ran: dict[str, list[int]] = {}
    for tick in (30, 31, 32):
        report = executor.execute(tick=tick).report
        assert report is not None
        assert set(report.collected) == {
            f"test_intervals.py::{name}" for name in ("test_every_third_cycle", "test_every_cycle", "test_no_multiple")
        }
        assert report.periods == (("test_intervals.py::test_every_third_cycle", 3.0),)
        for result in report.results:
            ran.setdefault(result.journey.partition("::")[2], []).append(tick)
        assert report.not_due == 3 - len(report.results)
    assert len(ran["test_every_third_cycle"]) == 1  # one cycle in three, the one its id hashes to
    assert ran["test_every_cycle"] == [30, 31, 32]
    assert ran["test_no_multiple"] == [30, 31, 32]  # it runs, to fail in setup and say why


def test_a_journey_interval_that_is_no_multiple_fails_it_in_setup_naming_the_rule(tmp_path: Path) -> None:
    folder = journeys(tmp_path, {"test_intervals.py": OWN_INTERVALS})
    report = Executor(Settings(journeys=folder, interval_seconds=1, timeout_seconds=10)).execute(tick=7).report
    assert report is not None
    (bad,) = [result for result in report.results if result.journey.endswith("test_no_multiple")]
    assert (bad.passed, bad.reason) == (False, "error")
    assert bad.message == (
        "Failed: @pytest.mark.interval(seconds) must be a whole multiple of the runner's --interval (1 s), got 1.5"
    )


def test_once_runs_every_journey_whatever_its_interval(tmp_path: Path) -> None:
    folder = journeys(tmp_path, {"test_intervals.py": OWN_INTERVALS})
    report = Executor(Settings(journeys=folder, interval_seconds=1, timeout_seconds=10)).execute(tick=None).report
    assert report is not None and len(report.results) == 3 and report.not_due == 0


PAUSABLE = """
    import pytest

    @pytest.mark.labels(team="payments")
    def test_pay():
        pass

    def test_search():
        pass
"""


def test_a_pause_window_s_journeys_are_not_run_and_the_others_are(tmp_path: Path) -> None:
    folder = journeys(tmp_path, {"test_shop.py": PAUSABLE})
    executor = Executor(Settings(journeys=folder, timeout_seconds=10))
    report = executor.execute(paused=(Selector(labels=(("team", "payments"),)),)).report
    assert report is not None
    assert [result.journey for result in report.results] == ["test_shop.py::test_search"]
    assert report.paused == ("test_shop.py::test_pay",)
    assert set(report.collected) == {"test_shop.py::test_pay", "test_shop.py::test_search"}  # still known
    everything = executor.execute(paused=(None,)).report  # a window over every journey
    assert everything is not None and everything.results == () and len(everything.paused) == 2
