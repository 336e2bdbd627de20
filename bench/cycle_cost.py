"""1. What a cycle costs: 20 single-request journeys, runner against plain pytest and the import floor."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.support import Section, SlowTarget, children_cpu_seconds, environment_for, median, spread, write_journeys
from scripts.stack import REPO_ROOT

JOURNEYS = 20
MODULE = [sys.executable, "-m", "runner"]
SCRIPT = [str(Path(sys.executable).with_name("synthetic-monitor"))]  # what the container runs


def runner_cycles(
    folder: Path, url: str, cycles: int, interval: float, command: list[str] = MODULE
) -> tuple[float, list[float]]:
    """CPU of the whole runner tree (runner, forkserver, cycles, workers) for ``cycles`` cycles, and their walls."""
    before = children_cpu_seconds()
    process = subprocess.Popen(
        [*command, "--journeys", str(folder), "--interval", str(interval), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO_ROOT,
        env=environment_for(url),
    )
    assert process.stdout is not None
    walls: list[float] = []
    for line in process.stdout:
        if '"cycle completed"' in line:
            event = json.loads(line)
            assert event["failed"] == 0, line
            walls.append(event["duration_seconds"])
            if len(walls) >= cycles:
                process.send_signal(signal.SIGTERM)
                break
    process.wait(30)
    return children_cpu_seconds() - before, walls


def command_cost(argv: list[str], url: str) -> tuple[float, float]:
    """(wall, CPU) of one run of a command."""
    before, started = children_cpu_seconds(), time.perf_counter()
    subprocess.run(argv, cwd=REPO_ROOT, env=environment_for(url), check=True, capture_output=True)
    return time.perf_counter() - started, children_cpu_seconds() - before


def run(smoke: bool) -> Section:
    reps, runs, short, long = (1, 2, 2, 4) if smoke else (3, 10, 5, 25)
    target = SlowTarget(0.0)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = write_journeys(Path(tmp) / "journeys", JOURNEYS)
            plain = [
                command_cost([sys.executable, "-m", "pytest", str(folder), "-q", "-p", "no:cacheprovider"], target.url)
                for _ in range(runs)
            ]
            floor = [command_cost([sys.executable, "-c", "import pytest, requests"], target.url) for _ in range(runs)]
            per_cycle_cpu: list[float] = []
            walls: list[float] = []
            script_cpu: list[float] = []
            script_walls: list[float] = []
            for _ in range(reps):  # the module and the script taken in turn
                for command, cpus, cycle_walls in ((MODULE, per_cycle_cpu, walls), (SCRIPT, script_cpu, script_walls)):
                    cpu_short, _ = runner_cycles(folder, target.url, short, 0.3, command)
                    cpu_long, long_walls = runner_cycles(folder, target.url, long, 0.3, command)
                    cpus.append((cpu_long - cpu_short) / (long - short))
                    cycle_walls.extend(long_walls[short:])
    finally:
        target.close()
    plain_cpu, floor_cpu = median([c for _, c in plain]), median([c for _, c in floor])
    cycle_cpu = median(per_cycle_cpu)
    rows = [
        ["runner cycle (steady state)", spread(walls), spread(per_cycle_cpu), f"{cycle_cpu / plain_cpu:.0%}"],
        [
            "the same, started as the `synthetic-monitor` script (the container's entry point)",
            spread(script_walls),
            spread(script_cpu),
            f"{median(script_cpu) / plain_cpu:.0%}",
        ],
        ["`python -m pytest` subprocess", spread([w for w, _ in plain]), spread([c for _, c in plain]), "100%"],
        [
            '`python -c "import pytest, requests"`',
            spread([w for w, _ in floor]),
            spread([c for _, c in floor]),
            f"{floor_cpu / plain_cpu:.0%}",
        ],
    ]
    verdicts = [
        f"CPU per cycle is {cycle_cpu / plain_cpu:.0%} of the plain pytest subprocess (target: at most 50%): "
        + ("met" if cycle_cpu <= plain_cpu / 2 else "missed"),
        f"CPU per cycle is {cycle_cpu / floor_cpu:.0%} of the import floor (target: less than 100%): "
        + ("met" if cycle_cpu < floor_cpu else "missed"),
        f"the script costs {median(script_cpu) / cycle_cpu:.2f}x `python -m runner` per cycle (target: within noise, "
        "1.10x): " + ("met" if median(script_cpu) <= 1.10 * cycle_cpu else "missed"),
    ]
    return Section(
        "1. Cost of a cycle",
        f"{JOURNEYS} journeys of one GET each against a local target that answers at once. The runner's CPU is "
        "that of its whole process tree (runner, forkserver, cycle children, workers), per cycle in steady state: "
        f"(CPU of {long} cycles - CPU of {short} cycles) / {long - short}, which cancels start-up. Seconds, "
        f"median (min-max) over {reps} runner runs and {runs} runs of each baseline.",
        ["what", "wall s", "CPU s", "CPU vs plain pytest"],
        rows,
        verdicts,
    )
