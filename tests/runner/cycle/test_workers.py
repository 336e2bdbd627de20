"""The worker pool's process handling: what workers share (its policy is tested in test_dealing.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
