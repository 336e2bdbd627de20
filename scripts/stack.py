"""Start the stack on loopback: the Reservations Service, the runner, Prometheus and Alertmanager.

Used by ``scripts/demo`` and by the end-to-end tests. Every process listens on 127.0.0.1, writes its output
to a log file, and is stopped (with anything it started) by ``RunningProcess.stop``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
RULES_PATH = REPO_ROOT / "prometheus" / "rules.yml"
READY_TIMEOUT_SECONDS = 30.0
POLL_SECONDS = 0.05
PROMETHEUS_BINARY = "prometheus"
ALERTMANAGER_BINARY = "prometheus-alertmanager"
RUNNER_JOB = "synthetic-monitor"  # the job SyntheticMonitorDown names
TARGET_JOB = "reservations-service"


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> Any:
    """Poll ``condition`` until it returns something truthy; raise AssertionError naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(POLL_SECONDS)


@dataclass
class RunningProcess:
    """A started process whose combined output goes to ``log_path``."""

    popen: subprocess.Popen[bytes]
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_output(self, pattern: str, timeout: float = READY_TIMEOUT_SECONDS) -> re.Match[str]:
        def found() -> re.Match[str] | None:
            if self.popen.poll() is not None:
                raise AssertionError(f"{self.log_path.name}: exited {self.popen.returncode} early:\n{self.output()}")
            return re.search(pattern, self.output())

        match: re.Match[str] = wait_for(found, timeout, f"{pattern!r} in {self.log_path}")
        return match

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        """Signal the process, wait, and kill its whole session if it lingers; return its exit status."""
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        return self.popen.returncode


def start(argv: Sequence[str], log_path: Path, env: dict[str, str] | None = None) -> RunningProcess:
    """Start ``argv`` in its own session with output to ``log_path``."""
    with log_path.open("wb") as log:
        popen = subprocess.Popen(
            list(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=REPO_ROOT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    return RunningProcess(popen, log_path)


def start_target(
    log_dir: Path, *args: str, env: dict[str, str] | None = None, name: str = "target"
) -> tuple[RunningProcess, str]:
    """Start the Reservations Service on a free port; return it and its base URL."""
    process = start([sys.executable, "-m", "target_service", "--port", "0", *args], log_dir / f"{name}.log", env)
    match = process.wait_for_output(r"listening on (http://127\.0\.0\.1:\d+)")
    return process, match.group(1)


def start_runner(
    log_dir: Path, *args: str, env: dict[str, str] | None = None, name: str = "runner"
) -> tuple[RunningProcess, str]:
    """Start ``python -m runner --port 0 ...``; return it and its base URL once it serves."""
    process = start([sys.executable, "-m", "runner", "--port", "0", *args], log_dir / f"{name}.log", env)
    match = process.wait_for_output(r'"url": "(http://127\.0\.0\.1:\d+)"', timeout=60)
    return process, match.group(1)


def prometheus_config(
    targets: dict[str, str], alertmanager: str | None, rule_files: Sequence[Path], interval: str
) -> dict[str, Any]:
    """A Prometheus config (JSON is YAML) scraping ``{job: host:port}`` every ``interval``."""
    config: dict[str, Any] = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [address]}]} for job, address in targets.items()
        ],
    }
    if alertmanager:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    return config


def alertmanager_config(webhook_url: str, group_wait: str = "10s", group_interval: str = "1m") -> dict[str, Any]:
    """An Alertmanager config sending every alert to one webhook."""
    return {
        "route": {
            "receiver": "webhook",
            "group_by": ["alertname", "job", "journey"],
            "group_wait": group_wait,
            "group_interval": group_interval,
            "repeat_interval": "4h",
        },
        "receivers": [{"name": "webhook", "webhook_configs": [{"url": webhook_url, "send_resolved": True}]}],
    }


def shipped_alertmanager_config(
    receiver_urls: dict[str, str], group_wait: str = "1s", group_interval: str = "1s"
) -> dict[str, Any]:
    """prometheus/alertmanager.yml as shipped, each receiver's URL from ``receiver_urls`` (by its name), waits
    shortened."""
    config: dict[str, Any] = yaml.safe_load((REPO_ROOT / "prometheus" / "alertmanager.yml").read_text())
    config["route"].update(group_wait=group_wait, group_interval=group_interval)
    for receiver in config["receivers"]:
        receiver["webhook_configs"][0]["url"] = receiver_urls[receiver["name"]]
    return config


def start_prometheus(workdir: Path, config: dict[str, Any]) -> tuple[RunningProcess, str]:
    """Start Prometheus on a free loopback port with ``config``; return it and its URL once ready."""
    return _start_binary(
        PROMETHEUS_BINARY,
        workdir,
        config,
        "Server is ready to receive web requests",
        # Exemplars: a bucket of synthetic_request_duration names the trace id of a run that fell in it.
        [f"--storage.tsdb.path={workdir / 'prometheus-data'}", "--enable-feature=exemplar-storage"],
    )


def start_alertmanager(workdir: Path, config: dict[str, Any]) -> tuple[RunningProcess, str]:
    """Start Alertmanager on a free loopback port, clustering off; return it and its URL once ready."""
    return _start_binary(
        ALERTMANAGER_BINARY,
        workdir,
        config,
        r"Listening.*address=127\.0\.0\.1",
        [f"--storage.path={workdir / 'alertmanager-data'}", "--cluster.listen-address="],  # no gossip on 0.0.0.0
    )


def _start_binary(
    name: str, workdir: Path, config: dict[str, Any], ready: str, extra: list[str]
) -> tuple[RunningProcess, str]:
    port = free_port()
    short = name.removeprefix("prometheus-")
    config_path = workdir / f"{short}.yml"
    config_path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    argv = [_binary(name), f"--config.file={config_path}", f"--web.listen-address=127.0.0.1:{port}", *extra]
    process = start(argv, workdir / f"{short}.log")
    process.wait_for_output(ready)
    return process, f"http://127.0.0.1:{port}"


def have_prometheus() -> bool:
    """Whether the Prometheus and Alertmanager binaries (Debian packages) are on PATH."""
    return all(shutil.which(name) for name in (PROMETHEUS_BINARY, ALERTMANAGER_BINARY))


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise FileNotFoundError(f"{name} is not on PATH (Debian package {name})")
    return path


def host_port(url: str) -> str:
    """'http://127.0.0.1:8000' -> '127.0.0.1:8000'."""
    return url.split("://", 1)[1].rstrip("/")


class WebhookReceiver(ThreadingHTTPServer):
    """An Alertmanager webhook on 127.0.0.1: keeps every alert with the time it arrived, and tells ``on_alert``."""

    daemon_threads = True

    def __init__(self, on_alert: Callable[[dict[str, Any]], None] = lambda alert: None) -> None:
        self.received: list[tuple[float, dict[str, Any]]] = []
        self.on_alert = on_alert
        super().__init__(("127.0.0.1", 0), _WebhookHandler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}/alerts"
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def alerts(self) -> list[dict[str, Any]]:
        return [alert for _, alert in self.received]


class _WebhookHandler(BaseHTTPRequestHandler):
    server: WebhookReceiver

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        for alert in body.get("alerts", []):
            self.server.received.append((time.monotonic(), alert))
            self.server.on_alert(alert)
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass
