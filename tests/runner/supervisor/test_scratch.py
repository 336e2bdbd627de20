"""The runner's own temporary folder: removed at close, and left by a killed runner only until the next start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from runner.supervisor.scratch import LOCK, PREFIX, Scratch, clear_abandoned

HOLD_A_SCRATCH = """
import sys, time
from pathlib import Path
from runner.supervisor.scratch import Scratch
scratch = Scratch.make(Path(sys.argv[1]))
print(scratch.root, flush=True)
time.sleep(60)
"""


def test_close_removes_the_folder(tmp_path: Path) -> None:
    scratch = Scratch.make(tmp_path)
    (scratch.root / "cycle-1").mkdir()
    assert scratch.root.name.startswith(f"{PREFIX}{os.getpid()}-") and (scratch.root / LOCK).exists()
    scratch.close()
    assert list(tmp_path.iterdir()) == []


def test_a_killed_runners_folder_is_cleared_and_a_live_ones_kept(tmp_path: Path) -> None:
    holders = [
        subprocess.Popen([sys.executable, "-c", HOLD_A_SCRATCH, str(tmp_path)], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    try:
        folders = [Path(holder.stdout.readline().strip()) for holder in holders if holder.stdout]
        holders[0].kill()  # SIGKILL: no clean-up of its own, the kernel drops its lock
        holders[0].wait(10)
        assert clear_abandoned(tmp_path) == [folders[0]]
        assert not folders[0].exists() and folders[1].exists()
    finally:
        for holder in holders:
            holder.kill()
            holder.wait(10)


def test_what_is_not_provably_a_runners_folder_is_left_alone(tmp_path: Path) -> None:
    no_lock = tmp_path / f"{PREFIX}1-abc"
    no_lock.mkdir()
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / LOCK).parent.mkdir()
    (elsewhere / LOCK).touch()
    link = tmp_path / f"{PREFIX}2-link"
    link.symlink_to(elsewhere)
    other = tmp_path / "pymp-abc"
    other.mkdir()
    assert clear_abandoned(tmp_path) == []
    assert no_lock.exists() and link.exists() and elsewhere.exists() and other.exists()
