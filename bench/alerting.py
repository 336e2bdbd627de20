"""Detection time with the shipped settings, measured with the real Prometheus and Alertmanager.

    .venv/bin/python -m bench.alerting [--runs 3]

Settings as shipped: runner interval 10 s (compose's INTERVAL_SEC), Prometheus scrape and evaluation 15 s
(prometheus/prometheus.yml), prometheus/rules.yml unchanged, Alertmanager group_wait 10 s. For each fault it
prints the seconds from the fault to: the first failure on /metrics, the alert pending, firing, delivered.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import requests

from bench.support import failures_on_metrics
from scripts.stack import (
    RULES_PATH,
    RUNNER_JOB,
    TARGET_JOB,
    RunningProcess,
    WebhookReceiver,
    alertmanager_config,
    host_port,
    prometheus_config,
    start_alertmanager,
    start_prometheus,
    start_runner,
    start_target,
    wait_for,
)

RUNNER_INTERVAL = "10"
PROMETHEUS_INTERVAL = "15s"
GROUP_WAIT = "10s"


def alert_state(prometheus_url: str, name: str) -> set[str]:
    data = requests.get(f"{prometheus_url}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
    return {alert["state"] for alert in data if alert["labels"]["alertname"] == name}


def measure(
    alert: str, fault_at: float, prometheus: str, webhook: WebhookReceiver, first_failure: float | None
) -> dict[str, float]:
    timings: dict[str, float] = {}
    if first_failure is not None:
        timings["on /metrics"] = first_failure - fault_at
    while "pending" not in timings or "firing" not in timings or "delivered" not in timings:
        states = alert_state(prometheus, alert)
        now = time.monotonic()
        if states and "pending" not in timings:
            timings["pending"] = now - fault_at
        if "firing" in states and "firing" not in timings:
            timings["firing"] = now - fault_at
            timings.setdefault("pending", now - fault_at)
        delivered = [
            t
            for t, a in webhook.received
            if a["labels"]["alertname"] == alert and a["status"] == "firing" and t >= fault_at
        ]
        if delivered and "delivered" not in timings:
            timings["delivered"] = delivered[0] - fault_at
        if now - fault_at > 600:
            raise AssertionError(f"{alert} did not fire within 600 s")
        time.sleep(0.2)
    return timings


def one_run(workdir: Path) -> dict[str, dict[str, float]]:
    processes: list[RunningProcess] = []
    webhook = WebhookReceiver()
    try:
        target, target_url = start_target(workdir, "--faults", "none")
        processes.append(target)
        runner, runner_url = start_runner(workdir, "--interval", RUNNER_INTERVAL, env={"TARGET_URL": target_url})
        processes.append(runner)
        alertmanager, am_url = start_alertmanager(workdir, alertmanager_config(webhook.url, GROUP_WAIT, "1m"))
        processes.append(alertmanager)
        targets = {TARGET_JOB: host_port(target_url), RUNNER_JOB: host_port(runner_url)}
        prometheus, prom_url = start_prometheus(
            workdir, prometheus_config(targets, host_port(am_url), [RULES_PATH], PROMETHEUS_INTERVAL)
        )
        processes.append(prometheus)
        time.sleep(90)  # a healthy minute and a half first, so every rate window is full of successes
        results: dict[str, dict[str, float]] = {}

        before = failures_on_metrics(runner_url)
        fault_at = time.monotonic()
        requests.put(
            f"{target_url}/admin/faults", json={"error_rate": 1, "status_codes": [500]}, timeout=5
        ).raise_for_status()
        wait_for(lambda: failures_on_metrics(runner_url) > before, 60, "a failure on /metrics")
        first_failure = time.monotonic()
        results["SyntheticFailureRateHigh"] = measure(
            "SyntheticFailureRateHigh", fault_at, prom_url, webhook, first_failure
        )
        results["ServiceErrorRateHigh"] = measure("ServiceErrorRateHigh", fault_at, prom_url, webhook, None)

        runner.stop()
        down_at = time.monotonic()
        results["SyntheticMonitorDown (runner stopped)"] = measure(
            "SyntheticMonitorDown", down_at, prom_url, webhook, None
        )
        return results
    finally:
        for process in reversed(processes):
            process.stop()
        webhook.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs = []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory() as workdir:
            runs.append(one_run(Path(workdir)))
        print(f"run {i + 1}: {json.dumps(runs[-1])}", flush=True)
    print(f"\n{'alert':<40} {'stage':<12} {'median s':>9} {'min':>6} {'max':>6}")
    for alert in runs[0]:
        for stage in runs[0][alert]:
            values = [run[alert][stage] for run in runs]
            print(f"{alert:<40} {stage:<12} {statistics.median(values):>9.1f} {min(values):>6.1f} {max(values):>6.1f}")


if __name__ == "__main__":
    main()
