"""14. What the exposition costs: the metrics file and /metrics' renders, against a cycle of 12,000 quick journeys.

Two measures of one target (at most 10% of the cycle). The whole command: `--once --workers 0` on 12,000 journeys
that do nothing, with and without `--metrics-file`, taken in turn (CPU of the process tree). And in one process,
the renders a serving runner makes after such a cycle: the classic text (/metrics and the file) and OpenMetrics
(what Prometheus asks for), ours against prometheus_client's own, on the same numbers.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import choose_encoder

from bench.journey_features import PLAIN, write
from bench.support import Section, children_cpu_seconds, median, spread
from runner.handoff.results import CycleReport, JourneyResult
from runner.record.metrics import MonitorMetrics
from runner.record.text_exposition import render
from runner.settings.command_line import DEFAULT_BUCKETS

TARGET_SHARE = 0.10
OPENMETRICS, _ = choose_encoder("application/openmetrics-text;version=1.0.0")


def once(folder: Path, metrics_file: Path | None) -> tuple[float, float]:
    """CPU and wall seconds of one ``--once --workers 0`` over ``folder``."""
    extra = ["--metrics-file", str(metrics_file)] if metrics_file else []
    argv = [sys.executable, "-m", "runner", "--once", "--workers", "0", "--journeys", str(folder)]
    before, started = children_cpu_seconds(), time.perf_counter()
    done = subprocess.run([*argv, "--max-journeys", "100000", *extra], capture_output=True, text=True)
    wall = time.perf_counter() - started
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return children_cpu_seconds() - before, wall


def cpu(action: Callable[[], object]) -> float:
    started = time.process_time()
    action()
    return time.process_time() - started


def renders(journeys: int, reps: int) -> list[list[float]]:
    """CPU seconds of each render after a cycle that ran every journey: [classic ours, classic prometheus_client,
    OpenMetrics ours, OpenMetrics prometheus_client], ``reps`` cycles each."""
    names = tuple(f"test_journeys_{n // 20:04d}.py::test_journey_{n}" for n in range(journeys))
    metrics = MonitorMetrics(CollectorRegistry(), DEFAULT_BUCKETS, interval_seconds=30, timeout_seconds=10)
    figures: list[list[float]] = [[], [], [], []]
    for cycle in range(reps + 1):
        results = tuple(JourneyResult(name, True, 0.001 * (cycle + 1), trace_id="ab" * 16) for name in names)
        metrics.record_cycle(CycleReport(names, results, ()), finished_at=1000.0 + cycle, duration_seconds=1.0)
        timings = [
            cpu(lambda: render(metrics.registry)),
            cpu(lambda: generate_latest(metrics.registry)),
            cpu(lambda: render(metrics.registry, openmetrics=OPENMETRICS)),
            cpu(lambda: OPENMETRICS(metrics.registry)),
        ]
        if cycle:  # the first cycle also makes each label set's text once: a runner's first render, apart
            for kept, timing in zip(figures, timings, strict=True):
                kept.append(timing)
    return figures


def run(smoke: bool) -> Section:
    journeys, reps = (200, 1) if smoke else (12_000, 3)
    with tempfile.TemporaryDirectory() as tmp:
        folder = write(Path(tmp) / "journeys", PLAIN, journeys)
        plain, with_file = [], []
        for _ in range(reps):  # in turn, so a drift of the machine's speed hits both alike
            plain.append(once(folder, None))
            with_file.append(once(folder, Path(tmp) / "synthetic.prom"))
        size = (Path(tmp) / "synthetic.prom").stat().st_size
    cycle_cpu = median([seconds for seconds, _ in plain])
    file_cost = median([w[0] - p[0] for p, w in zip(plain, with_file, strict=True)])
    ours, theirs, ours_om, theirs_om = renders(journeys, reps)
    serving = median(ours) + median(ours_om)  # a serving runner's renders after each cycle
    rows = [
        ["`--once --workers 0`", spread([s for s, _ in plain], digits=2), spread([w for _, w in plain], digits=2)],
        [
            f"`--once --workers 0 --metrics-file` ({size / 1e6:.0f} MB)",
            spread([s for s, _ in with_file], digits=2),
            spread([w for _, w in with_file], digits=2),
        ],
        ["classic text after a cycle, written from the numbers", spread(ours, digits=2), ""],
        ["classic text after a cycle, prometheus_client's `generate_latest`", spread(theirs, digits=2), ""],
        ["OpenMetrics after a cycle, written from the numbers", spread(ours_om, digits=2), ""],
        ["OpenMetrics after a cycle, prometheus_client's", spread(theirs_om, digits=2), ""],
    ]
    share_file, share_serving = file_cost / cycle_cpu, serving / cycle_cpu
    verdicts = [
        f"the metrics file adds {file_cost:.2f} s of CPU to a {cycle_cpu:.2f} s cycle: {share_file:.1%} "
        f"(target: at most {TARGET_SHARE:.0%}): " + ("met" if share_file <= TARGET_SHARE else "missed"),
        f"a serving runner's renders after each cycle (classic for the file and /metrics, OpenMetrics for "
        f"Prometheus): {serving:.2f} s, {share_serving:.1%} of the cycle (target: at most {TARGET_SHARE:.0%}): "
        + ("met" if share_serving <= TARGET_SHARE else "missed"),
    ]
    return Section(
        "14. What the exposition costs",
        f"{journeys:,} journeys that do nothing (20 to a file). The whole command, `--once --workers 0`, without and "
        f"with `--metrics-file`, {reps} runs taken in turn: CPU seconds of the process tree and wall seconds, median "
        "(min-max). Then in one process, after each of as many cycles that ran every journey (each with a trace id, "
        "so every bucket has an exemplar): the CPU seconds of one render, ours and prometheus_client's, on the same "
        "numbers.",
        ["what", "CPU s", "wall s"],
        rows,
        verdicts,
    )
