"""The wheel ships every module of runner/ and target_service/, subpackages included, and the entry points."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.processes import REPO_ROOT


def test_the_wheel_ships_every_module_and_the_entry_points(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), "."],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("synthetic_monitor-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for package in ("runner", "target_service"):
        modules = {path.relative_to(REPO_ROOT).as_posix() for path in (REPO_ROOT / package).rglob("*.py")}
        assert modules and modules <= names, sorted(modules - names)
    (entry_points,) = [name for name in names if name.endswith(".dist-info/entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    for line in (
        "synthetic-monitor = runner.__main__:main",
        "synthetic_monitor = runner.journey.plugin",
        "synthetic_monitor_browser = runner.journey.browser",
    ):
        assert line in text
