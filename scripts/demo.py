"""The demo: the whole stack on loopback, printed URLs, alerts shown as they arrive; Ctrl-C stops it all.

Run through ``scripts/demo``, which sets up ``.venv`` first. Prometheus and Alertmanager join when their
binaries are on PATH (Debian packages ``prometheus`` and ``prometheus-alertmanager``).
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from runner.journey.browser import find_chromium
from scripts.stack import (
    REPO_ROOT,
    RULES_PATH,
    RUNNER_JOB,
    TARGET_JOB,
    RunningProcess,
    WebhookReceiver,
    alertmanager_config,
    have_prometheus,
    host_port,
    prometheus_config,
    start_alertmanager,
    start_prometheus,
    start_runner,
    start_target,
)

MAINTENANCE_EXAMPLE = REPO_ROOT / "prometheus" / "maintenance.example.yml"  # the README's windows

_PRINTING = threading.Lock()  # the webhook's threads deliver alerts at once: one whole line each


def print_alert(alert: dict[str, Any]) -> None:
    """Show one alert Alertmanager delivered."""
    labels, annotations = alert.get("labels", {}), alert.get("annotations", {})
    status = str(alert.get("status", "?")).upper()
    with _PRINTING:
        print(f"ALERT {status:<8} {labels.get('alertname')}: {annotations.get('summary', '')}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Start everything, print where it is, and wait for Ctrl-C."""
    parser = argparse.ArgumentParser(prog="scripts/demo", description=__doc__)
    parser.add_argument("--interval", default="5", help="seconds between monitor cycles (default 5)")
    parser.add_argument("--faults", default="seed", choices=["seed", "none"], help="the service's faults")
    args = parser.parse_args(argv)
    workdir = REPO_ROOT / ".demo"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir()
    processes: list[RunningProcess] = []
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        target, target_url = start_target(workdir, "--faults", args.faults)
        processes.append(target)
        runner_args = ["--interval", args.interval, "--maintenance", str(MAINTENANCE_EXAMPLE)]
        if find_chromium() is None:
            print(
                "No Chromium here: the browser journey is left out (apt-get install chromium to include it).",
                file=sys.stderr,
            )
            runner_args += ["--", "-k", "not chromium"]
        runner, runner_url = start_runner(workdir, *runner_args, env={"TARGET_URL": target_url})
        processes.append(runner)
        urls = [
            ("Reservations Service", target_url),
            ("Booking page (the browser journey's)", f"{target_url}/book"),
            ("Status page", f"{runner_url}/"),
            ("Monitor metrics", f"{runner_url}/metrics"),
        ]
        urls += _start_prometheus_stack(workdir, processes, target_url, runner_url, args.interval)
        _print_welcome(urls, target_url, workdir)
        while all(process.popen.poll() is None for process in processes):
            time.sleep(0.5)
        print("A process of the stack exited; see the logs in .demo/", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopping...", flush=True)
        return 0
    finally:
        for process in reversed(processes):
            process.stop()


def _start_prometheus_stack(
    workdir: Path, processes: list[RunningProcess], target_url: str, runner_url: str, interval: str
) -> list[tuple[str, str]]:
    if not have_prometheus():
        print(
            "Prometheus and Alertmanager are not on PATH; to include them: "
            "apt-get install prometheus prometheus-alertmanager",
            flush=True,
        )
        return []
    receiver = WebhookReceiver(print_alert)
    alertmanager, alertmanager_url = start_alertmanager(workdir, alertmanager_config(receiver.url, "5s", "30s"))
    processes.append(alertmanager)
    targets = {TARGET_JOB: host_port(target_url), RUNNER_JOB: host_port(runner_url)}
    config = prometheus_config(targets, host_port(alertmanager_url), [RULES_PATH], f"{interval}s")
    prometheus, prometheus_url = start_prometheus(workdir, config)
    processes.append(prometheus)
    return [("Prometheus", f"{prometheus_url}/alerts"), ("Alertmanager", alertmanager_url)]


def _print_welcome(urls: list[tuple[str, str]], target_url: str, workdir: Path) -> None:
    width = max(len(name) for name, _ in urls) + 1
    for name, url in urls:
        print(f"{name + ':':<{width}} {url}", flush=True)
    print(f"Logs: {workdir}/", flush=True)
    print(
        f"Break the service: curl -X PUT {target_url}/admin/faults -H 'Content-Type: application/json' "
        '-d \'{"error_rate": 1, "status_codes": [500]}\'',
        flush=True,
    )
    print("Alerts delivered by Alertmanager are printed here. Ctrl-C stops everything.", flush=True)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
