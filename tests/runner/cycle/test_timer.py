"""pytest-timeout's signal timer, installed once per process: journeys still time out one by one, with its message."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.processes import REPO_ROOT

CONFTEST = """
    from runner.cycle.timer import SignalTimer

    def pytest_configure(config):
        config.pluginmanager.register(SignalTimer(), "signal-timer")
"""
JOURNEYS = """
    import signal
    import time

    def test_hangs():
        time.sleep(30)

    def test_takes_its_own_alarm():
        signal.signal(signal.SIGALRM, lambda signum, frame: None)

    def test_hangs_after_a_journey_replaced_the_handler():
        time.sleep(30)

    def test_first_of_two_that_each_take_most_of_the_timeout():
        time.sleep(1.2)

    def test_second_of_two_that_each_take_most_of_the_timeout():
        time.sleep(1.2)

    def test_the_alarm_is_the_timers_and_armed_for_this_journey():
        handler = signal.getsignal(signal.SIGALRM)
        assert type(getattr(handler, "__self__", None)).__name__ == "SignalTimer"
        assert 1.5 < signal.getitimer(signal.ITIMER_REAL)[0] <= 2.0
"""


def run_pytest(folder: Path) -> str:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--timeout",
            "2",
            "--timeout-method",
            "signal",
            "-rA",
        ],
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.stdout + done.stderr


def test_each_journey_times_out_alone_with_pytest_timeouts_message_even_after_one_took_the_alarm(
    tmp_path: Path,
) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "conftest.py").write_text(textwrap.dedent(CONFTEST))
    (tmp_path / "test_journeys.py").write_text(textwrap.dedent(JOURNEYS))
    output = run_pytest(tmp_path)
    failed = sorted({line.split("::")[1].split(" ")[0] for line in output.splitlines() if line.startswith("FAILED ")})
    assert failed == ["test_hangs", "test_hangs_after_a_journey_replaced_the_handler"], output
    assert output.count("Timeout (>2.0s) from pytest-timeout") >= 2, output
    assert "4 passed" in output, output
