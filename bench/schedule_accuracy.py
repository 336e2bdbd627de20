"""4. Schedule accuracy: when 100 cycles at a 1 s interval start, against the ideal grid."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from bench.support import Section, SlowTarget, median, percentile, write_journeys
from scripts.stack import start_runner, wait_for


def run(smoke: bool) -> Section:
    cycles, interval = (5, 0.5) if smoke else (100, 1.0)
    target = SlowTarget(0.0)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = write_journeys(Path(tmp) / "journeys", 20)
            process, _ = start_runner(
                Path(tmp), "--journeys", str(folder), "--interval", str(interval), env={"TARGET_URL": target.url}
            )
            try:

                def events() -> list[dict[str, float]] | None:
                    found = [json.loads(line) for line in process.output().splitlines() if '"cycle completed"' in line]
                    return found if len(found) >= cycles else None

                cycle_events = wait_for(events, cycles * interval + 60, f"{cycles} cycles")[:cycles]
            finally:
                process.stop()
    finally:
        target.close()
    t0 = cycle_events[0]["scheduled_at"]
    lags = [event["started_at"] - event["scheduled_at"] for event in cycle_events]
    grid_offsets = [event["started_at"] - (t0 + k * interval) for k, event in enumerate(cycle_events)]
    half = len(grid_offsets) // 2
    drift = median(grid_offsets[half:]) - median(grid_offsets[:half])
    rows = [
        [
            "start lag behind its grid point",
            f"{median(lags) * 1000:.2f}",
            f"{percentile(lags, 99) * 1000:.2f}",
            f"{max(lags) * 1000:.2f}",
        ],
        [
            "offset from t0 + k x interval",
            f"{median(grid_offsets) * 1000:.2f}",
            f"{percentile(grid_offsets, 99) * 1000:.2f}",
            f"{max(grid_offsets) * 1000:.2f}",
        ],
    ]
    return Section(
        "4. Schedule accuracy",
        f"{cycles} cycles of 20 journeys at a {interval:g} s interval; each cycle's start (from its log line) against "
        f"the ideal grid t0 + k x {interval:g} s. Drift: median offset of the second half minus the first half.",
        ["what", "median ms", "p99 ms", "max ms"],
        rows,
        [
            f"drift over {cycles} cycles: {drift * 1000:+.2f} ms (target: no cumulative drift): "
            + ("met" if abs(drift) < 0.010 else "missed"),
            f"p99 jitter: {percentile(lags, 99) * 1000:.2f} ms (target: 50 ms or less): "
            + ("met" if percentile(lags, 99) <= 0.050 else "missed"),
        ],
    )
