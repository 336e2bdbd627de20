"""6. /metrics under load: 1,000 journeys exposed, 1 and 50 concurrent clients, idle and while cycles run."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import requests

from bench.support import Section, SlowTarget, write_journeys
from scripts.stack import start_runner

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, clients: int, seconds: int) -> tuple[float, float, float, int]:
    """(p50 ms, p99 ms, requests/s, errors) from wrk with gzip, as Prometheus scrapes."""
    result = subprocess.run(
        [
            "wrk",
            f"-t{min(2, clients)}",
            f"-c{clients}",
            f"-d{seconds}s",
            "--latency",
            "-H",
            "Accept-Encoding: gzip",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    )
    out = result.stdout

    def latency(pct: str) -> float:
        match = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)$", out, re.MULTILINE)
        assert match, out
        return float(match.group(1)) * UNITS[match.group(2)]

    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"(?:Non-2xx or 3xx responses|Socket errors:.*?timeout) (\d+)", out))
    return latency("50"), latency("99"), rate, errors


def run(smoke: bool) -> Section:
    if shutil.which("wrk") is None:
        return Section("6. /metrics under load", "Skipped: wrk is not installed (Debian package wrk).", ["-"], [])
    journeys, seconds = (50, 2) if smoke else (1000, 10)
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
                    for clients in (1, 50):
                        p50, p99, rate, errors = wrk(f"{url}/metrics", clients, seconds)
                        rows.append([label, str(clients), f"{p50:.2f}", f"{p99:.2f}", f"{rate:.0f}", str(errors)])
                    cycles = process.output().count('"cycle completed"')
                finally:
                    process.stop()
                rows[-1][0] += f" ({cycles} cycles during the run)" if interval != "3600" else ""
    finally:
        target.close()
    p99_loaded = float(rows[-1][3])
    return Section(
        "6. /metrics under load",
        f"{journeys} journeys exposed ({size / 2**20:.1f} MiB of text, served gzipped as Prometheus asks). wrk for "
        f"{seconds} s per row with 1 and 50 connections. In the second half the runner runs a cycle of all {journeys} "
        "journeys with 8 workers every 5 s. Baseline: the same load with no cycle running.",
        ["runner", "clients", "p50 ms", "p99 ms", "requests/s", "errors"],
        rows,
        []
        if smoke
        else [
            f"p99 at 50 clients while cycles run: {p99_loaded:.1f} ms (target: 50 ms or less): "
            + ("met" if p99_loaded <= 50 else "missed")
        ],
    )
