"""--once --pushgateway: a cron job's or CI pipeline's cycle reaches Prometheus through a real Pushgateway."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.processes import RunningProcess, free_port, require_binary, start, wait_for

JOURNEY = "def test_guest_can_browse():\n    pass\n"


@pytest.fixture
def pushgateway(tmp_path: Path) -> Iterator[str]:
    binary = require_binary("prometheus-pushgateway", "prometheus-pushgateway")
    port = free_port()
    # Debian's build persists to /var/lib/prometheus by default: every test would see earlier tests' pushes.
    argv = [binary, f"--web.listen-address=127.0.0.1:{port}", f"--persistence.file={tmp_path / 'pushgateway.data'}"]
    process: RunningProcess = start(argv, tmp_path / "pushgateway.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _up(url), 30, "the Pushgateway to listen")
        yield url
    finally:
        process.stop()


def _up(url: str) -> bool:
    try:
        return requests.get(f"{url}/-/ready", timeout=1).status_code == 200
    except requests.ConnectionError:
        return False


def once(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    journeys = tmp_path / "journeys"
    journeys.mkdir(exist_ok=True)
    (journeys / "test_browse.py").write_text(JOURNEY)
    argv = [sys.executable, "-m", "runner", "--once", "--journeys", str(journeys), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def test_a_once_cycle_is_pushed_under_the_monitors_job(tmp_path: Path, pushgateway: str) -> None:
    done = once(tmp_path, "--pushgateway", pushgateway)
    assert done.returncode == 0, done.stdout + done.stderr
    samples = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(requests.get(f"{pushgateway}/metrics", timeout=5).text)
        for sample in family.samples
    }
    labels = {"job": "synthetic-monitor", "instance": "", "journey": "test_browse.py::test_guest_can_browse"}
    assert samples[("synthetic_request_duration_count", frozenset({**labels, "result": "success"}.items()))] == 1


def test_each_location_pushes_to_its_own_group_and_neither_replaces_the_other(tmp_path: Path, pushgateway: str) -> None:
    for location in ("eu-west", "us-east"):
        done = once(tmp_path, "--pushgateway", pushgateway, "--location", location)
        assert done.returncode == 0, done.stdout + done.stderr
    groups = requests.get(f"{pushgateway}/api/v1/metrics", timeout=5).json()["data"]
    assert sorted(group["labels"].get("location", "") for group in groups) == ["eu-west", "us-east"], groups
    text = requests.get(f"{pushgateway}/metrics", timeout=5).text
    for location in ("eu-west", "us-east"):
        assert (
            f'synthetic_runs_total{{instance="",job="synthetic-monitor",location="{location}",status="completed"}} 1'
            in text
        )


def test_a_push_that_fails_is_one_line_and_exit_1(tmp_path: Path) -> None:
    done = once(tmp_path, "--pushgateway", f"http://127.0.0.1:{free_port()}")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("synthetic-monitor: error: could not push to the Pushgateway")
    assert "Traceback" not in done.stdout + done.stderr


def test_a_pushgateway_that_is_no_url_is_refused(tmp_path: Path) -> None:
    done = once(tmp_path, "--pushgateway", "127.0.0.1:9091")
    assert done.returncode == 2
    assert "--pushgateway must be an http:// or https:// URL" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_pushgateway_without_once_is_refused(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "runner", "--journeys", str(tmp_path), "--pushgateway", "http://127.0.0.1:9091"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "synthetic-monitor: error: --pushgateway needs --once: a serving runner is scraped, a one-shot run pushes"
    )
