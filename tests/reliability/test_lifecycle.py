"""Runner lifecycle: a killed pytest child, a full or read-only disk, a restart. Each leaves a clear log line
and a metric, and the runner recovers by itself."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.processes import metric, scrape, start_runner, wait_for
from tests.reliability.support import OK_JOURNEY, running, write

pytestmark = [pytest.mark.slow, pytest.mark.reliability]
COUNT = "synthetic_request_duration_count"


def errors(url: str) -> float:
    return metric(scrape(url), "synthetic_runs_total", status="error") or 0.0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs (root and permission to mount needed), unmounted afterwards."""
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mountpoint)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def test_sigkill_of_the_pytest_child_is_an_error_and_the_next_cycle_runs(tmp_path: Path) -> None:
    folder = write(tmp_path / "journeys", {"test_slow.py": "import time\n\ndef test_slow():\n    time.sleep(2)\n"})
    with running(tmp_path, folder, "--interval", "1", "--timeout", "5") as runner:
        runner.wait_cycles(1)

        def cycle_child() -> int | None:
            for child in psutil.Process(runner.process.popen.pid).children(recursive=True):
                try:
                    if os.getsid(child.pid) == child.pid:  # the cycle's child leads its own session
                        return child.pid
                except (ProcessLookupError, PermissionError):
                    continue
            return None

        pid = wait_for(cycle_child, 30, "a running cycle")
        runner.track()
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: errors(runner.url) >= 1, 30, "the killed cycle counted as an error")
        completed = runner.completed()
        runner.wait_cycles(completed + 1)
        problems = [event["problem"] for event in runner.events("journey suite could not run")]
        assert any("killed by signal 9 (SIGKILL)" in problem for problem in problems), problems


def test_no_space_left_is_an_error_with_a_clear_line_and_the_runner_recovers(tmp_path: Path, small_disk: Path) -> None:
    folder = write(tmp_path / "journeys", {"test_ok.py": OK_JOURNEY})
    process, url = start_runner(
        tmp_path, "--journeys", str(folder), "--interval", "0.5", env={"TMPDIR": str(small_disk)}
    )
    try:
        wait_for(lambda: (metric(scrape(url), "synthetic_runs_total", status="completed") or 0) >= 1, 60, "a cycle")
        filler = small_disk / "filler"
        with filler.open("wb") as handle:
            try:
                while True:
                    handle.write(b"\0" * 65536)
                    handle.flush()
            except OSError:
                pass
        wait_for(lambda: errors(url) >= 2, 60, "cycles failing for lack of space")
        assert "no space left" in process.output().lower()
        filler.unlink()
        completed = metric(scrape(url), "synthetic_runs_total", status="completed") or 0
        wait_for(
            lambda: (metric(scrape(url), "synthetic_runs_total", status="completed") or 0) > completed, 60, "recovery"
        )
    finally:
        assert process.stop() == 0


def test_a_read_only_temporary_folder_is_an_error_with_a_clear_line_and_the_runner_recovers(
    tmp_path: Path, small_disk: Path
) -> None:
    folder = write(tmp_path / "journeys", {"test_ok.py": OK_JOURNEY})
    process, url = start_runner(
        tmp_path, "--journeys", str(folder), "--interval", "0.5", env={"TMPDIR": str(small_disk)}
    )
    try:
        wait_for(lambda: (metric(scrape(url), "synthetic_runs_total", status="completed") or 0) >= 1, 60, "a cycle")
        subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
        wait_for(lambda: errors(url) >= 2, 60, "cycles failing on a read-only folder")
        assert "cannot create the cycle's folder" in process.output()
        assert "Read-only file system" in process.output()
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
        completed = metric(scrape(url), "synthetic_runs_total", status="completed") or 0
        wait_for(
            lambda: (metric(scrape(url), "synthetic_runs_total", status="completed") or 0) > completed, 60, "recovery"
        )
    finally:
        assert process.stop() == 0


def test_after_a_restart_every_series_is_back_at_zero_before_the_first_cycle_ends(tmp_path: Path) -> None:
    journeys = {
        "test_a.py": "import time\n\ndef test_slow():\n    time.sleep(3)\n\ndef test_fails():\n    assert False\n",
        "test_b.py": OK_JOURNEY,
    }
    folder = write(tmp_path / "journeys", journeys)
    names = ["test_a.py::test_slow", "test_a.py::test_fails", "test_b.py::test_companion_is_fine"]
    with running(tmp_path, folder, "--interval", "1", "--timeout", "5") as runner:
        runner.wait_cycles(1)
    (tmp_path / "runner-tmp").rmdir()
    with running(tmp_path, folder, "--interval", "60", "--timeout", "5") as restarted:
        samples = scrape(restarted.url)
        assert metric(samples, "synthetic_runs_total", status="completed") == 0
        for name in names:
            for result in ("success", "failure"):
                assert metric(samples, COUNT, journey=name, result=result) == 0, (name, result)
