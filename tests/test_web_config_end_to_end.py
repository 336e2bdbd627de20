"""End to end: the real runner behind --web-config (TLS and basic auth), scraped by the real Prometheus."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import requests

from scripts.stack import start_prometheus
from tests.processes import REPO_ROOT, RunningProcess, require_binary, start, wait_for
from tests.runner.settings.test_web_config import self_signed

pytestmark = pytest.mark.slow
USER, PASSWORD = "prometheus", "scrape-me-7c1e"


@dataclass
class Protected:
    url: str
    cert: Path
    process: RunningProcess


@pytest.fixture
def protected_runner(tmp_path: Path) -> Iterator[Protected]:
    """A runner serving HTTPS with one basic-auth user, a journey that passes, a cycle a second."""
    cert, key = self_signed(tmp_path)
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(10)).decode()
    config = tmp_path / "web.yml"
    config.write_text(
        f"tls_server_config:\n  cert_file: {cert.name}\n  key_file: {key.name}\nbasic_auth_users:\n  {USER}: {hashed}\n"
    )
    journeys = tmp_path / "journeys"
    journeys.mkdir()
    (journeys / "test_ok.py").write_text("def test_ok():\n    pass\n")
    argv = [sys.executable, "-m", "runner", "--port", "0", "--journeys", str(journeys), "--interval", "1"]
    runner = start([*argv, "--web-config", str(config)], tmp_path / "runner.log")
    try:
        url = runner.wait_for_output(r'"url": "(https://127\.0\.0\.1:\d+)"', timeout=60).group(1)
        yield Protected(url, cert, runner)
    finally:
        runner.stop()


def test_only_the_right_password_reads_the_monitor_and_failures_are_logged_without_it(
    protected_runner: Protected,
) -> None:
    url, cert, runner = protected_runner.url, str(protected_runner.cert), protected_runner.process
    assert requests.get(f"{url}/healthz", verify=cert, timeout=5).status_code == 200
    for path in ("/metrics", "/", "/api/results"):
        assert requests.get(f"{url}{path}", verify=cert, timeout=5).status_code == 401, path
        assert requests.get(f"{url}{path}", verify=cert, auth=(USER, "wrong-guess-31"), timeout=5).status_code == 401
        assert requests.get(f"{url}{path}", verify=cert, auth=(USER, PASSWORD), timeout=5).status_code == 200, path
    plain = requests.get(url.replace("https://", "http://") + "/metrics", timeout=5)
    assert plain.status_code == 400 and b"synthetic_" not in plain.content
    wait_for(lambda: "wrong user name or password" in runner.output(), 10, "the failed attempt in the log")
    failures = [json.loads(line) for line in runner.output().splitlines() if '"unauthorized request"' in line]
    assert len(failures) == 2  # once per kind of refusal and address in a burst, never once per attempt
    assert {event["user"] for event in failures} == {None, USER}
    assert all(event["remote_addr"] == "127.0.0.1" for event in failures)
    assert "wrong-guess-31" not in runner.output() and PASSWORD not in runner.output()


def test_prometheus_scrapes_the_runner_over_tls_with_basic_auth(protected_runner: Protected, tmp_path: Path) -> None:
    require_binary("prometheus", "prometheus")
    url, cert = protected_runner.url, protected_runner.cert
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {
                "job_name": "synthetic-monitor",
                "scheme": "https",
                "tls_config": {"ca_file": str(cert)},
                "basic_auth": {"username": USER, "password": PASSWORD},
                "static_configs": [{"targets": [url.removeprefix("https://")]}],
            }
        ],
    }
    workdir = tmp_path / "prometheus"
    workdir.mkdir()
    prometheus, prometheus_url = start_prometheus(workdir, config)
    try:
        target = wait_for(lambda: _target_up(prometheus_url), 30, "the runner's target to be up in Prometheus")
        assert target["scrapeUrl"].startswith("https://")
        runs = wait_for(lambda: _query(prometheus_url, 'synthetic_runs_total{status="completed"} > 0'), 30, "runs")
        assert runs[0]["metric"]["job"] == "synthetic-monitor"
    finally:
        prometheus.stop()


def _target_up(prometheus_url: str) -> dict[str, Any] | None:
    targets = requests.get(f"{prometheus_url}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
    return next((target for target in targets if target["health"] == "up"), None)


def _query(prometheus_url: str, query: str) -> list[dict[str, Any]]:
    response = requests.get(f"{prometheus_url}/api/v1/query", params={"query": query}, timeout=5)
    result: list[dict[str, Any]] = response.json()["data"]["result"]
    return result


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n", "is not a readable file"),
        ("basic_auth_users:\n  prometheus: plain-text-password\n", "must be a bcrypt hash"),
        ("tls_config: {}\n", "unknown key 'tls_config' in the top level"),
    ],
)
def test_a_bad_web_config_is_one_line_and_exit_2_before_any_cycle(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "web.yml"
    config.write_text(text)
    result = subprocess.run(
        [sys.executable, "-m", "runner", "--journeys", "journeys", "--port", "0", "--web-config", str(config)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"synthetic-monitor: error: --web-config '{config}'"), lines
    assert message in lines[0]
    assert result.stdout == "" and "plain-text-password" not in result.stderr
