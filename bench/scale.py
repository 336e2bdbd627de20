"""2. Scale: 1,000 journeys of one 20 ms request, runner --workers N against pytest -n N and the ideal."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.support import Section, SlowTarget, environment_for, median, spread, write_journeys
from scripts.stack import REPO_ROOT

DELAY_SECONDS = 0.020
TARGET_SECONDS = 3.5


def timed(argv: list[str], url: str) -> float:
    started = time.perf_counter()
    result = subprocess.run(argv, cwd=REPO_ROOT, env=environment_for(url), capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return elapsed


def run(smoke: bool) -> Section:
    journeys, reps, worker_counts = (40, 1, (0, 2)) if smoke else (1000, 3, (0, 2, 4, 8))
    target = SlowTarget(DELAY_SECONDS)
    rows, at_eight = [], 0.0
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = str(write_journeys(Path(tmp) / "journeys", journeys))
            for workers in worker_counts:
                ours = [
                    timed(
                        [sys.executable, "-m", "runner", "--once", "--journeys", folder, "--workers", str(workers)],
                        target.url,
                    )
                    for _ in range(reps)
                ]
                xdist = ["-n", str(workers)] if workers else ["-p", "no:xdist"]
                plain = [
                    timed([sys.executable, "-m", "pytest", folder, "-q", "-p", "no:cacheprovider", *xdist], target.url)
                    for _ in range(reps)
                ]
                ideal = journeys * DELAY_SECONDS / max(1, workers)
                rows.append([str(workers), spread(ours, digits=2), spread(plain, digits=2), f"{ideal:.2f}"])
                if workers == 8:
                    at_eight = median(ours)
    finally:
        target.close()
    verdicts = (
        []
        if smoke
        else [
            f"`--once --workers 8` on 1,000 journeys: {at_eight:.2f} s (target: 3.5 s or less): "
            + ("met" if at_eight <= TARGET_SECONDS else "missed")
        ]
    )
    return Section(
        "2. Scale",
        f"{journeys} journeys, each one GET to a target that answers after 20 ms. Wall seconds of the whole "
        "command, start-up included: `synthetic-monitor --once --workers N` against `pytest -n N` (pytest-xdist; "
        "N = 0 is plain pytest) on the same files, and the ideal `journeys x 20 ms / max(1, N)`. "
        f"Median (min-max) of {reps} runs.",
        ["workers", "runner --once", "pytest -n N", "ideal"],
        rows,
        verdicts,
    )
