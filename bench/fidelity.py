"""3. Fidelity: the duration the runner records against the target's own handling time of the same request."""

from __future__ import annotations

import tempfile
from pathlib import Path

import requests

from bench.support import Section, SlowTarget, median, percentile, write_journeys
from scripts.stack import start_runner, wait_for

DELAY_SECONDS = 0.005
JOURNEYS = 10


def run(smoke: bool) -> Section:
    cycles = 3 if smoke else 30
    target = SlowTarget(DELAY_SECONDS)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = write_journeys(Path(tmp) / "journeys", JOURNEYS)
            args = ("--journeys", str(folder), "--interval", "0.3", "--history", str(cycles + 5))
            process, url = start_runner(Path(tmp), *args, env={"TARGET_URL": target.url})
            try:

                def enough() -> dict[str, object] | None:
                    results = requests.get(f"{url}/api/results", timeout=5).json()
                    runs = [len(journey["history"]) for journey in results["journeys"]]
                    return results if runs and min(runs) >= cycles else None

                results = wait_for(enough, 120, f"{cycles} cycles")
            finally:
                process.stop()
    finally:
        target.close()
    added: list[float] = []
    for journey in results["journeys"]:
        number = journey["journey"].rsplit("_", 1)[1]
        handled = target.handling[f"/j/{number}"]
        for run_, handling in zip(journey["history"], handled, strict=False):
            added.append(run_["duration_seconds"] - handling)
    handling_all = [h for times in target.handling.values() for h in times]
    rows = [
        [
            "target's own handling time",
            f"{median(handling_all) * 1000:.2f}",
            f"{percentile(handling_all, 99) * 1000:.2f}",
        ],
        ["recorded by the runner minus handling", f"{median(added) * 1000:.2f}", f"{percentile(added, 99) * 1000:.2f}"],
    ]
    return Section(
        "3. Fidelity",
        f"{JOURNEYS} journeys of one GET to a target that takes {DELAY_SECONDS * 1000:.0f} ms and measures its own "
        f"handling time; {len(added)} runs, each journey's recorded duration (setup + call + teardown, from "
        "/api/results) paired with the target's handling of the same request. Milliseconds.",
        ["what", "median ms", "p99 ms"],
        rows,
        [
            f"median added by the runner: {median(added) * 1000:.2f} ms (target: 3 ms or less): "
            + ("met" if median(added) <= 0.003 else "missed")
        ],
    )
