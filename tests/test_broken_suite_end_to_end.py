"""A suite pytest itself breaks on (an INTERNALERROR from a conftest hook) never looks healthy: with the real
runner and a real Prometheus on the shipped rules, the monitor's alert on itself fires."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests

from scripts.stack import RULES_PATH, RUNNER_JOB, host_port, prometheus_config, start_prometheus, start_runner
from tests.processes import journeys, metric, require_binary, scrape, wait_for

pytestmark = pytest.mark.slow
SHORT_FOR = "3s"


def firing(prometheus_url: str, name: str) -> list[dict[str, str]]:
    alerts = requests.get(f"{prometheus_url}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
    return [alert["labels"] for alert in alerts if alert["labels"]["alertname"] == name and alert["state"] == "firing"]


def test_an_internal_error_in_every_cycle_fires_the_monitors_alert_on_itself(tmp_path: Path) -> None:
    require_binary("prometheus", "prometheus")
    folder = journeys(
        tmp_path,
        {
            "pytest.ini": "[pytest]\nfilterwarnings = error\n",
            "conftest.py": """
                import pytest

                def pytest_collection_modifyitems(items):
                    for item in items:
                        item.add_marker(pytest.mark.no_such_mark)
            """,
            "test_ok.py": "def test_ok():\n    pass\n",
        },
    )
    runner, runner_url = start_runner(tmp_path, "--journeys", str(folder), "--interval", "1", "--timeout", "1")
    processes = [runner]
    try:
        rules = tmp_path / "rules.yml"
        rules.write_text(re.sub(r"for: \S+", f"for: {SHORT_FOR}", RULES_PATH.read_text()))
        config = prometheus_config({RUNNER_JOB: host_port(runner_url)}, None, [rules], "1s")
        prometheus, prometheus_url = start_prometheus(tmp_path, config)
        processes.append(prometheus)
        # Scraped (so not the "not scraped at all" case) and up, yet blind: the alert names the runner.
        wait_for(
            lambda: [
                a for a in firing(prometheus_url, "SyntheticMonitorDown") if a.get("instance") == host_port(runner_url)
            ],
            90,
            "SyntheticMonitorDown firing for the runner",
        )
        up = requests.get(f"{prometheus_url}/api/v1/query", params={"query": "up"}, timeout=5).json()["data"]["result"]
        assert [sample["value"][1] for sample in up] == ["1"]
        samples = scrape(runner_url)
        assert (metric(samples, "synthetic_runs_total", status="error") or 0) >= 3
        assert metric(samples, "synthetic_runs_total", status="completed") == 0
        assert "PytestUnknownMarkWarning" in runner.output()
    finally:
        for process in reversed(processes):
            process.stop()
