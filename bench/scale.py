"""2. Scale: 1,000 journeys of one 20 ms request, runner --workers N against pytest -n N, the same requests made
by N bare processes, and the ideal."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import requests

from bench.support import (
    Section,
    SlowTarget,
    children_cpu_seconds,
    environment_for,
    median,
    spread,
    write_journeys,
)
from scripts.stack import REPO_ROOT

DELAY_SECONDS = 0.020
TARGET_SECONDS = 3.5


@dataclass
class Cost:
    """CPU seconds spent while one command ran: by its whole process tree, and by the target (a thread here)."""

    spent: list[tuple[float, float]] = field(default_factory=list)

    @contextlib.contextmanager
    def counting(self) -> Iterator[None]:
        tree, here = children_cpu_seconds(), time.process_time()
        yield
        self.spent.append((children_cpu_seconds() - tree, time.process_time() - here))

    def medians(self) -> tuple[float, float]:
        return median([tree for tree, _ in self.spent]), median([target for _, target in self.spent])


def timed(argv: list[str], url: str, cost: Cost | None = None) -> float:
    started = time.perf_counter()
    with cost.counting() if cost is not None else contextlib.nullcontext():
        result = subprocess.run(argv, cwd=REPO_ROOT, env=environment_for(url), capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return elapsed


def _requests(url: str, numbers: range) -> None:
    for n in numbers:
        assert requests.get(f"{url}/j/{n:04d}", timeout=5).status_code == 200
    os._exit(0)


def requests_alone(url: str, journeys: int, workers: int, cost: Cost | None = None) -> float:
    """The journeys' requests and nothing else: ``workers`` forked processes (one if 0), each making its share
    one after another, as the journeys do; no Python start, no pytest."""
    context = multiprocessing.get_context("fork")
    count = max(1, workers)
    started = time.perf_counter()
    with cost.counting() if cost is not None else contextlib.nullcontext():
        processes = [context.Process(target=_requests, args=(url, range(k, journeys, count))) for k in range(count)]
        for process in processes:
            process.start()
        for process in processes:
            process.join()
    elapsed = time.perf_counter() - started
    assert all(process.exitcode == 0 for process in processes)
    return elapsed


def run(smoke: bool) -> Section:
    journeys, reps, worker_counts = (40, 1, (0, 2)) if smoke else (1000, 3, (0, 2, 4, 8))
    target = SlowTarget(DELAY_SECONDS)
    rows, at_eight, alone_at_eight, collecting = [], 0.0, 0.0, 0.0
    ours_cost, alone_cost = Cost(), Cost()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = str(write_journeys(Path(tmp) / "journeys", journeys))
            collect_only = [sys.executable, "-m", "pytest", folder, "-q", "-p", "no:cacheprovider", "--collect-only"]
            collecting = median([timed(collect_only, target.url) for _ in range(reps)])
            for workers in worker_counts:
                counted = workers == worker_counts[-1]  # 8; in a smoke run, its largest
                ours = [
                    timed(
                        [sys.executable, "-m", "runner", "--once", "--journeys", folder, "--workers", str(workers)],
                        target.url,
                        ours_cost if counted else None,
                    )
                    for _ in range(reps)
                ]
                xdist = ["-n", str(workers)] if workers else ["-p", "no:xdist"]
                plain = [
                    timed([sys.executable, "-m", "pytest", folder, "-q", "-p", "no:cacheprovider", *xdist], target.url)
                    for _ in range(reps)
                ]
                alone = [
                    requests_alone(target.url, journeys, workers, alone_cost if counted else None) for _ in range(reps)
                ]
                ideal = journeys * DELAY_SECONDS / max(1, workers)
                rows.append(
                    [
                        str(workers),
                        spread(ours, digits=2),
                        spread(plain, digits=2),
                        spread(alone, digits=2),
                        f"{ideal:.2f}",
                    ]
                )
                if counted:
                    at_eight, alone_at_eight = median(ours), median(alone)
    finally:
        target.close()
    verdicts = [] if smoke else _verdicts(at_eight, alone_at_eight, collecting, ours_cost, alone_cost)
    return Section(
        "2. Scale",
        f"{journeys} journeys, each one GET to a target that answers after 20 ms. Wall seconds of the whole "
        "command, start-up included: `synthetic-monitor --once --workers N` against `pytest -n N` (pytest-xdist; "
        "N = 0 is plain pytest) on the same files; the same requests made by N forked processes that do nothing "
        "else (no Python start, no pytest: what the target and this machine allow); and the ideal "
        "`journeys x 20 ms / max(1, N)`. "
        f"Median (min-max) of {reps} runs.",
        ["workers", "runner --once", "pytest -n N", "requests alone", "ideal"],
        rows,
        verdicts,
    )


def _verdicts(at_eight: float, alone_at_eight: float, collecting: float, ours: Cost, alone: Cost) -> list[str]:
    """The target, and the two floors under it on this machine: collecting before running, and its CPU."""
    cores = os.cpu_count() or 1
    (runner_cpu, runner_target_cpu), (alone_cpu, alone_target_cpu) = ours.medians(), alone.medians()
    needed = runner_cpu + runner_target_cpu
    return [
        f"`--once --workers 8` on 1,000 journeys: {at_eight:.2f} s (target: 3.5 s or less): "
        + ("met" if at_eight <= TARGET_SECONDS else "missed"),
        f"the same requests alone in 8 processes, {alone_at_eight:.2f} s, plus plain pytest starting and "
        f"collecting these files (`pytest --collect-only`), {collecting:.2f} s: "
        f"{alone_at_eight + collecting:.2f} s for a run that collects, then runs, if the runner and pytest's "
        "protocol cost nothing per journey",
        f"CPU (medians): the runner's whole process tree {runner_cpu:.2f} s and the target {runner_target_cpu:.2f} s "
        f"in a run of `--workers 8`; the requests alone {alone_cpu:.2f} s and the target {alone_target_cpu:.2f} s. "
        f"On this machine's {cores} cores that run needs {needed / cores:.2f} s even if nothing ever waited: "
        f"a run that started journeys while still collecting would end no sooner than "
        f"{max(alone_at_eight, needed / cores):.2f} s",
    ]
