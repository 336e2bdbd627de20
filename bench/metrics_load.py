"""6. /metrics under load: 1,000 journeys exposed, 1 and 50 concurrent clients, idle and while cycles run."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import requests

from bench.support import Section, SlowTarget, median, parse_wrk, spread, write_journeys
from scripts.stack import start_runner

OPENMETRICS = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"  # as Prometheus asks


def wrk(url: str, clients: int, seconds: int, accept: str = "") -> dict[str, float]:
    """wrk with gzip, as Prometheus scrapes; ``accept`` asks for a format (OpenMetrics, as Prometheus does)."""
    result = subprocess.run(
        [
            "wrk",
            f"-t{min(2, clients)}",
            f"-c{clients}",
            f"-d{seconds}s",
            "--latency",
            "-H",
            "Accept-Encoding: gzip",
            *(["-H", f"Accept: {accept}"] if accept else []),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    )
    return parse_wrk(result.stdout)


def run(smoke: bool) -> Section:
    if shutil.which("wrk") is None:
        return Section("6. /metrics under load", "Skipped: wrk is not installed (Debian package wrk).", ["-"], [])
    journeys, seconds, repeats = (50, 2, 1) if smoke else (1000, 10, 3)
    p99s: dict[tuple[str, int], list[float]] = {}
    target = SlowTarget(0.020)
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = write_journeys(Path(tmp) / "journeys", journeys)
            for label, interval in (("idle (no cycle running)", "3600"), ("while cycles run", "5")):
                process, url = start_runner(
                    Path(tmp),
                    "--journeys",
                    str(folder),
                    "--workers",
                    "8",
                    "--interval",
                    interval,
                    env={"TARGET_URL": target.url},
                    name=f"runner-{interval}",
                )
                try:
                    process.wait_for_output('"cycle completed"', timeout=120)
                    size = len(requests.get(f"{url}/metrics", timeout=10).content)
                    for clients, accept in ((1, ""), (50, ""), (50, OPENMETRICS)):
                        loads = [wrk(f"{url}/metrics", clients, seconds, accept) for _ in range(repeats)]
                        key = (interval, clients) if not accept else (interval, -clients)
                        p99s[key] = [load["p99_ms"] for load in loads]
                        rows.append(
                            [
                                label,
                                f"{clients}, OpenMetrics" if accept else str(clients),
                                spread([load["p50_ms"] for load in loads], digits=2),
                                spread(p99s[key], digits=2),
                                f"{median([load['rate'] for load in loads]):.0f}",
                                str(int(sum(load["failed"] for load in loads))),
                            ]
                        )
                    cycles = process.output().count('"cycle completed"')
                finally:
                    process.stop()
                rows[-1][0] += f" ({cycles} cycles during the run)" if interval != "3600" else ""
    finally:
        target.close()
    p99_loaded = median(p99s[("5", 50)])
    return Section(
        "6. /metrics under load",
        f"{journeys} journeys exposed ({size / 2**20:.1f} MiB of text, served gzipped as Prometheus asks). wrk for "
        f"{seconds} s per run with 1 and 50 connections (and 50 asking for OpenMetrics, with exemplars, as "
        f"Prometheus does), median (min-max) of {repeats} runs. In the second half "
        f"the runner runs a cycle of all {journeys} journeys with 8 workers every 5 s. Baseline: the same load "
        "with no cycle running.",
        ["runner", "clients", "p50 ms", "p99 ms", "requests/s", "errors"],
        rows,
        []
        if smoke
        else [
            f"p99 at 50 clients while cycles run: median {p99_loaded:.1f} ms of {repeats} runs, worst "
            f"{max(p99s[('5', 50)]):.1f} ms (target: 50 ms or less): "
            + ("met" if p99_loaded <= 50 else "missed")
            + ("" if max(p99s[("5", 50)]) <= 50 else " on the median, not in every run")
        ],
    )
