"""A process family is killed at once: the process, its session, its descendants, daemons that left both."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from runner.handoff.procs import autogroup_nice, background_session, family, kill_family, state_of

# A subreaper (as a cycle's process is) whose child has a child in its session and double-forks a daemon into a
# session of its own: the daemon's parent exits, so it is re-parented to the subreaper.
TREE = """
import subprocess, sys, time
from runner.handoff.procs import become_subreaper
assert become_subreaper()
subprocess.Popen(["sh", "-c", f"sleep 60 & setsid -f sh -c 'echo $$ > {sys.argv[1]}; exec sleep 60'; wait"])
time.sleep(60)
"""


def test_kill_family_kills_descendants_and_a_daemon_that_left_the_session(tmp_path: Path) -> None:
    pid_file = tmp_path / "daemon.pid"
    root = subprocess.Popen([sys.executable, "-c", TREE, str(pid_file)], start_new_session=True)
    daemon: psutil.Process | None = None
    try:
        deadline = time.monotonic() + 30
        while not (pid_file.exists() and pid_file.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.05)
        daemon = psutil.Process(int(pid_file.read_text()))
        while daemon.ppid() != root.pid and time.monotonic() < deadline:
            time.sleep(0.05)  # until its parent (setsid -f's fork) has exited: the daemon is the subreaper's now
        members = family([root.pid])
        assert os.getsid(daemon.pid) == daemon.pid and daemon.pid in members and len(members) >= 4
        everyone = [psutil.Process(pid) for pid in members]
        kill_family(root.pid)
        root.wait(10)
        _, alive = psutil.wait_procs(everyone, timeout=10)
        assert alive == []
    finally:
        root.kill()
        if daemon is not None and daemon.is_running():
            daemon.kill()


def test_state_of_a_stopped_process_and_of_one_that_is_gone() -> None:
    process = subprocess.Popen(["sleep", "60"])
    try:
        os.kill(process.pid, 19)  # SIGSTOP
        deadline = time.monotonic() + 10
        while state_of(process.pid) != "T" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert state_of(process.pid) == "T"
    finally:
        process.kill()
        process.wait(10)
    assert state_of(process.pid) == ""


def test_a_background_session_is_its_own_session_and_niced_as_a_scheduling_group_too() -> None:
    before = autogroup_nice()
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        try:
            background_session(5)
            seen = f"{os.getsid(0)} {os.getpid()} {os.nice(0)} {autogroup_nice()}"
            os.write(writer, seen.encode())
        finally:
            os._exit(0)
    os.close(writer)
    session, child, nice, group = os.read(reader, 200).decode().split()
    os.close(reader)
    os.waitpid(pid, 0)
    assert session == child and int(nice) == os.nice(0) + 5
    if before is None:
        pytest.skip("this kernel has no autogroup (/proc/self/autogroup); plain nice was checked")
    # Without the group's own value the new session would be a group at nice 0: level with the runner.
    assert int(group) == min(19, before + 5)
