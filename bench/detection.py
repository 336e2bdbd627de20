"""7. Detection: from a fault in the target to the first failure visible on /metrics, at 1, 5 and 30 s."""

from __future__ import annotations

import functools
import random
import tempfile
import time
from pathlib import Path

import requests

from bench.support import Section, failures_on_metrics, median
from scripts.stack import start_runner, start_target, wait_for


def more_failures(url: str, before: float) -> bool:
    return failures_on_metrics(url) > before


def run(smoke: bool) -> Section:
    plan = [(1.0, 3)] if smoke else [(1.0, 10), (5.0, 6), (30.0, 4)]
    rows = []
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        target, target_url = start_target(Path(tmp), "--faults", "none")
        try:
            for interval, trials in plan:
                runner, url = start_runner(
                    Path(tmp), "--interval", str(interval), env={"TARGET_URL": target_url}, name=f"runner-{interval:g}"
                )
                times = []
                try:
                    runner.wait_for_output('"cycle completed"', timeout=60)
                    for _ in range(trials):
                        time.sleep(rng.uniform(0, interval))  # a fault can strike at any point of the cycle
                        before = failures_on_metrics(url)
                        started = time.monotonic()
                        requests.put(
                            f"{target_url}/admin/faults", json={"error_rate": 1, "status_codes": [500]}, timeout=5
                        )
                        wait_for(functools.partial(more_failures, url, before), interval + 30, "a failure on /metrics")
                        times.append(time.monotonic() - started)
                        requests.put(f"{target_url}/admin/faults", json={"error_rate": 0}, timeout=5)
                        time.sleep(interval + 1)  # let a healthy cycle pass
                finally:
                    runner.stop()
                expected = interval / 2
                rows.append(
                    [
                        f"{interval:g}",
                        str(trials),
                        f"{median(times):.2f}",
                        f"{min(times):.2f}",
                        f"{max(times):.2f}",
                        f"{expected:.2f} + cycle",
                    ]
                )
        finally:
            target.stop()
    return Section(
        "7. Detection",
        "The demo's journeys against the Reservations Service; at a random moment the service starts answering 500 "
        "(PUT /admin/faults); the time until a failure is counted on /metrics (polled every 50 ms). Expected: half an "
        "interval on average (the next cycle start) plus the cycle's own duration; at most one interval plus that.",
        ["interval s", "trials", "median s", "min s", "max s", "expected mean"],
        rows,
    )
