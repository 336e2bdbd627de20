"""Load: 50 clients on /metrics and 50 on / for 30 s while cycles of 200 journeys run."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from bench.support import SlowTarget, parse_wrk, write_journeys
from tests.processes import REPO_ROOT, metric, require_binary, scrape
from tests.reliability.support import running

pytestmark = [pytest.mark.slow, pytest.mark.reliability, pytest.mark.solo]
SECONDS = 30


# wrk, the runner and its cycles load 2 cores: scripts/test runs this alone (marker solo); beside another
# CPU-bound test the niced cycles lost a tick in CI.
def test_fifty_clients_on_metrics_and_page_while_cycles_run(tmp_path: Path) -> None:
    wrk = require_binary("wrk", "wrk")
    target = SlowTarget(0.020)
    try:
        folder = write_journeys(tmp_path / "journeys", 200)
        with running(tmp_path, folder, "--interval", "5", "--workers", "8", env={"TARGET_URL": target.url}) as runner:
            runner.wait_cycles(1)
            before = runner.completed()
            loads = {
                path: subprocess.Popen(
                    [
                        wrk,
                        "-t1",
                        "-c50",
                        f"-d{SECONDS}s",
                        "--latency",
                        "-H",
                        "Accept-Encoding: gzip",
                        f"{runner.url}{path}",
                    ],
                    stdout=subprocess.PIPE,
                    text=True,
                )
                for path in ("/metrics", "/")
            }
            results = {path: parse_wrk(load.communicate(timeout=SECONDS + 60)[0]) for path, load in loads.items()}
            runner.track()
            samples = scrape(runner.url)
            cycles = runner.completed() - before
            lags = [e["start_lag_seconds"] for e in runner.events("cycle completed") if "start_lag_seconds" in e]
    finally:
        target.close()
    artifacts = REPO_ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "load.json").write_text(
        json.dumps({"results": results, "cycles": cycles, "max_start_lag_s": max(lags)}, indent=2)
    )
    assert "connection limit" not in runner.process.output()  # the server never stopped accepting
    for path, result in results.items():
        assert result["failed"] == 0, (path, result)
        assert result["requests"] > 1000, (path, result)
    assert cycles >= SECONDS // 5 - 1  # a cycle every 5 s went on under load
    assert metric(samples, "synthetic_runs_total", status="skipped") == 0
    assert max(lags) < 0.5  # and each started on its grid point
