"""Faults a journey can cause on purpose: bytes that are not UTF-8, daemons that outlive the cycle, a stopped
forkserver or cycle process, a runner killed with SIGKILL. The monitor must stay honest and bounded."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import psutil
import pytest
import requests

from tests.processes import metric, scrape, start_runner, wait_for
from tests.reliability.support import OK_JOURNEY, running, write

pytestmark = [pytest.mark.slow, pytest.mark.reliability]
REPLACED = "\ufffd"
UNDECODABLE = """
import os

import pytest

TEAM = os.fsdecode(b"t\\xffam")


@pytest.mark.labels(team=TEAM)
def test_labelled():
    pass


def test_with_a_step(step):
    with step(os.fsdecode(b"st\\xffep")):
        pass


def test_fails_with_a_byte():
    raise AssertionError(os.fsdecode(b"bad \\xff byte"))


@pytest.mark.parametrize("value", [os.fsdecode(b"p\\xffq")])
def test_parametrized(value):
    pass
"""


def test_bytes_that_are_not_utf8_in_ids_steps_labels_and_messages_are_shown_replaced(tmp_path: Path) -> None:
    folder = write(tmp_path / "journeys", {"test_text.py": UNDECODABLE})
    # A file named on a Latin-1 disk: its name is not UTF-8.
    (folder / os.fsdecode(b"test_caf\xe9.py")).write_bytes(b"def test_in_a_latin1_file():\n    pass\n")
    metrics_file = tmp_path / "synthetic.prom"
    with running(tmp_path, folder, "--interval", "1", "--metrics-file", str(metrics_file)) as runner:
        runner.wait_cycles(2)
        body = requests.get(f"{runner.url}/metrics", timeout=5)
        page = requests.get(runner.url, timeout=5)
        results = requests.get(f"{runner.url}/api/results", timeout=5)
        assert (body.status_code, page.status_code, results.status_code) == (200, 200, 200)
        for text in (f't{REPLACED}am"', f'step="st{REPLACED}ep"', f"test_caf{REPLACED}.py::test_in_a_latin1_file"):
            assert text in body.text, text
        assert f"test_caf{REPLACED}.py" in page.text and f"bad {REPLACED} byte" in page.text
        journeys = {journey["journey"]: journey for journey in results.json()["journeys"]}
        assert journeys["test_text.py::test_fails_with_a_byte"]["message"] == f"AssertionError: bad {REPLACED} byte"
        assert f"test_caf{REPLACED}.py::test_in_a_latin1_file" in journeys
        assert f"st{REPLACED}ep" in metrics_file.read_text(encoding="utf-8")
        assert metric(scrape(runner.url), "synthetic_runs_total", status="error") == 0
        assert runner.events("cycle failed inside the runner") == []


DAEMON = """
import os
import subprocess
import time
from pathlib import Path


def test_leaves_a_daemon_and_keeps_running():
    # setsid -f: a new session, and the process that started it gone (double fork).
    subprocess.run(["setsid", "-f", "sh", "-c", f"echo $$ > {os.environ['DAEMON_PID']}; exec sleep 3600"], check=True)
    time.sleep(60)
"""


def test_sigterm_stops_the_runner_and_a_daemon_a_running_journey_left(tmp_path: Path) -> None:
    folder = write(tmp_path / "journeys", {"test_daemon.py": DAEMON})
    pid_file = tmp_path / "daemon.pid"
    env = {"DAEMON_PID": str(pid_file)}
    with running(tmp_path, folder, "--interval", "120", "--timeout", "90", env=env) as runner:
        pid = wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(), 60, "the daemon")
        daemon = psutil.Process(int(pid))
        assert os.getsid(daemon.pid) == daemon.pid  # out of the cycle's session
        runner.track()
        started = time.monotonic()
        runner.process.popen.send_signal(signal.SIGTERM)
        runner.process.popen.send_signal(signal.SIGTERM)  # a second signal must not break off the stop
        assert runner.process.popen.wait(20) == 0
        assert time.monotonic() - started < 15
    _, alive = psutil.wait_procs([daemon], timeout=5)
    assert alive == [], "the daemon outlived the runner"


STOPS_THE_FORKSERVER = """
import os
import signal
from pathlib import Path

DONE = Path(os.environ["STOPPED_ONCE"])


def test_stops_the_forkserver():
    if DONE.exists():
        return
    DONE.touch()
    cycle = os.getppid()
    forkserver = int(Path(f"/proc/{cycle}/stat").read_text().rsplit(")", 1)[1].split()[1])
    os.kill(forkserver, signal.SIGSTOP)
"""


def test_a_stopped_forkserver_is_killed_and_cycles_go_on(tmp_path: Path) -> None:
    folder = write(tmp_path / "journeys", {"test_stop.py": STOPS_THE_FORKSERVER, "test_ok.py": OK_JOURNEY})
    env = {"STOPPED_ONCE": str(tmp_path / "stopped")}
    with running(tmp_path, folder, "--interval", "1", "--timeout", "5", env=env) as runner:
        runner.wait_cycles(4, timeout=120)
        killed = runner.events("forkserver killed")
        assert killed and killed[0]["state"] == "T", killed


STOPS_ITS_CYCLE = """
import os
import signal


def test_stops_its_cycle_process():
    os.kill(os.getppid(), signal.SIGSTOP)
"""


def test_a_journey_that_stops_its_cycle_process_is_named(tmp_path: Path) -> None:
    folder = write(tmp_path / "journeys", {"test_a_fine.py": OK_JOURNEY, "test_b_stop.py": STOPS_ITS_CYCLE})
    with running(tmp_path, folder, "--interval", "1", "--timeout", "1") as runner:
        wait_for(lambda: metric(scrape(runner.url), "synthetic_runs_total", status="error"), 60, "an error cycle")
        problems = [event["problem"] for event in runner.events("journey suite could not run")]
        assert "test_b_stop.py::test_stops_its_cycle_process ran" in problems[0], problems
        error = requests.get(f"{runner.url}/api/results", timeout=5).json()["suite_error"]
        assert "test_b_stop.py::test_stops_its_cycle_process" in error["message"]
        runner.track()


def test_folders_a_killed_runner_left_are_cleared_by_the_next_one(tmp_path: Path) -> None:
    folder = write(tmp_path / "journeys", {"test_ok.py": OK_JOURNEY})
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    strangers = [tmpdir / "synthetic-runner-1-not-a-runners", tmpdir / "pymp-someone-elses"]
    for stranger in strangers:
        stranger.mkdir()
    env = {"TMPDIR": str(tmpdir)}
    killed, url = start_runner(tmp_path, "--journeys", str(folder), "--interval", "1", env=env, name="killed")
    wait_for(lambda: metric(scrape(url), "synthetic_runs_total", status="completed"), 60, "a cycle")
    family = psutil.Process(killed.popen.pid).children(recursive=True)
    left = [path for path in tmpdir.iterdir() if path.name.startswith("synthetic-runner-") and path not in strangers]
    killed.popen.kill()
    killed.popen.wait(10)
    psutil.wait_procs(family, timeout=10)  # its forkserver and tracker end when their pipes close
    assert len(left) == 1 and left[0].exists()
    assert set(tmpdir.iterdir()) == {*left, *strangers}  # its cycles, socket and screenshots all in that folder
    with running(tmp_path, folder, "--interval", "1", env=env) as runner:
        runner.wait_cycles(1)
        assert not left[0].exists()
        assert all(stranger.exists() for stranger in strangers)  # not provably a runner's: kept
        cleared = runner.events("removed what killed runners left in the temporary folder")
        assert json.dumps(str(left[0])) in json.dumps(cleared)
        for stranger in strangers:
            stranger.rmdir()  # so that running() finds the temporary folder empty after the stop
