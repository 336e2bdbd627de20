"""12. What 90 days of hourly totals cost: memory, state-file size and time, for 2,000 journeys.

The runner's own ``Uptime`` is fed a cycle an hour for 90 days (every journey runs; one in ten fails now and
then, one in ten is degraded now and then, one in fifty spends hours in a mute window), then measured: the
memory its rings hold (tracemalloc, the process's allocations), the size of its part of the state file (JSON,
as written), and the time to compute the figures the page shows after a cycle and to write the state.
"""

from __future__ import annotations

import json
import statistics
import time
import tracemalloc
from collections.abc import Callable

from bench.support import Section
from runner.handoff.results import CycleReport, JourneyResult
from runner.record.uptime import HOURS_KEPT, Uptime

JOURNEYS = 2000
MEMORY_TARGET_MB = 20.0
STATE_TARGET_MB = 20.0
START = 1_800_000_000.0


def _cycle(journeys: list[str], hour: int) -> tuple[CycleReport, frozenset[str]]:
    results = []
    muted = set()
    for index, journey in enumerate(journeys):
        failing = index % 10 == 0 and hour % 17 == 0
        degraded = index % 10 == 1 and hour % 13 == 0
        if index % 50 == 2 and hour % 100 < 3:
            muted.add(journey)
        reason = "http" if failing else None
        results.append(JourneyResult(journey, not failing, 0.05, reason, degraded="slow" if degraded else ""))
    return CycleReport(tuple(journeys), tuple(results), ()), frozenset(muted)


def run(smoke: bool) -> Section:
    count, hours = (50, 48) if smoke else (JOURNEYS, HOURS_KEPT)
    journeys = [f"test_journeys_{n // 20:03d}.py::test_journey_{n}" for n in range(count)]
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    uptime = Uptime()
    for hour in range(hours):
        report, muted = _cycle(journeys, hour)
        uptime.record(report, muted, START + hour * 3600)
    held = sum(stat.size_diff for stat in tracemalloc.take_snapshot().compare_to(before, "filename"))
    tracemalloc.stop()
    at = START + (hours - 1) * 3600
    summary_seconds = statistics.median(_timed(lambda: uptime.summary(at)) for _ in range(3))
    started = time.perf_counter()
    text = json.dumps(uptime.state())
    state_seconds = time.perf_counter() - started
    memory_mb, state_mb = held / 2**20, len(text) / 2**20
    rows = [
        ["memory the totals hold", f"{memory_mb:.1f} MB"],
        ["their part of the state file (JSON)", f"{state_mb:.2f} MB"],
        ["the page's figures after a cycle (summary of every journey)", f"{summary_seconds * 1000:.0f} ms"],
        ["encoding them for the state file", f"{state_seconds * 1000:.0f} ms"],
    ]
    return Section(
        "12. What 90 days of uptime totals cost",
        f"{count} journeys, a cycle an hour for {hours} hours ({hours // 24} days) fed to the runner's `Uptime`: one "
        "journey in ten fails now and then, one in ten is degraded now and then, one in fifty spends hours in a mute "
        "window. Memory: what tracemalloc sees allocated and still held; state: the JSON of its part of "
        "`--state-file`; times: median of 3 on this machine.",
        ["what", "figure"],
        rows,
        [
            f"memory {memory_mb:.1f} MB (target: under {MEMORY_TARGET_MB:g} MB): "
            f"{'met' if memory_mb < MEMORY_TARGET_MB else 'missed'}",
            f"state file {state_mb:.2f} MB (target: under {STATE_TARGET_MB:g} MB): "
            f"{'met' if state_mb < STATE_TARGET_MB else 'missed'}",
        ],
    )


def _timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started
