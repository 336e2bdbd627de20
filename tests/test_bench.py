"""The benchmarks keep working: their smoke mode runs every one at tiny sizes (no timing is asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import REPO_ROOT, require_binary

pytestmark = pytest.mark.slow


def test_every_benchmark_runs_in_smoke_mode(tmp_path: Path) -> None:
    require_binary("wrk", "wrk")
    require_binary("prometheus-blackbox-exporter", "prometheus-blackbox-exporter")
    output = tmp_path / "benchmarks.md"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--output", str(output)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = output.read_text()
    for title in (
        "1. Cost of a cycle",
        "2. Scale",
        "3. Fidelity",
        "4. Schedule accuracy",
        "5. Memory",
        "6. /metrics under load",
        "7. Detection",
        "8. A public suite",
        "9. What steps and retries cost",
        "13. What timing requests by phase costs",
        "14. What the exposition costs",
        "15. CPU per check against blackbox_exporter",
    ):
        assert f"## {title}" in report
    assert "Skipped" not in report
