"""The post's payoff, with the real binaries: a route answers 400/401, the service's own error alert stays
silent, and only the synthetic alert fires; then 500s fire both; Alertmanager delivers the synthetic alert."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

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
)
from tests.processes import require_binary, set_faults, wait_for

pytestmark = pytest.mark.slow
SHORT_FOR = "3s"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[dict[str, Any]]:
    require_binary("prometheus", "prometheus")
    require_binary("chromium", "chromium")  # the demo's journeys include a browser journey
    require_binary("prometheus-alertmanager", "prometheus-alertmanager")
    processes: list[RunningProcess] = []
    webhook = WebhookReceiver()
    try:
        target, target_url = start_target(tmp_path, "--faults", "none")
        processes.append(target)
        set_faults(target_url, {"error_rate": 1, "status_codes": [400, 401]})
        runner, runner_url = start_runner(tmp_path, "--interval", "1", "--timeout", "2", env={"TARGET_URL": target_url})
        processes.append(runner)
        alertmanager, alertmanager_url = start_alertmanager(tmp_path, alertmanager_config(webhook.url, "1s", "1s"))
        processes.append(alertmanager)
        rules = tmp_path / "rules.yml"
        rules.write_text(re.sub(r"for: \S+", f"for: {SHORT_FOR}", RULES_PATH.read_text()))
        targets = {TARGET_JOB: host_port(target_url), RUNNER_JOB: host_port(runner_url)}
        config = prometheus_config(targets, host_port(alertmanager_url), [rules], "1s")
        prometheus, prometheus_url = start_prometheus(tmp_path, config)
        processes.append(prometheus)
        yield {
            "target": target_url,
            "target_process": target,
            "runner": runner_url,
            "prometheus": prometheus_url,
            "webhook": webhook,
        }
    finally:
        for process in reversed(processes):
            process.stop()
        webhook.shutdown()


def alerts(prometheus_url: str) -> dict[str, set[str]]:
    """{alertname: {states}} from Prometheus's alerts API."""
    found: dict[str, set[str]] = {}
    for alert in requests.get(f"{prometheus_url}/api/v1/alerts", timeout=5).json()["data"]["alerts"]:
        found.setdefault(alert["labels"]["alertname"], set()).add(alert["state"])
    return found


def targets_up(prometheus_url: str) -> bool:
    active = requests.get(f"{prometheus_url}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
    return len(active) == 2 and all(target["health"] == "up" for target in active)


def test_only_the_synthetic_alert_fires_on_400_401_and_both_fire_on_500(stack: dict[str, Any]) -> None:
    prometheus, webhook = stack["prometheus"], stack["webhook"]
    wait_for(lambda: targets_up(prometheus), 60, "Prometheus to scrape the runner and the service")

    wait_for(lambda: "firing" in alerts(prometheus).get("SyntheticFailureRateHigh", set()), 60, "the synthetic alert")
    # Keep watching for several evaluations: the service's 5xx alert must not even go pending.
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        assert "ServiceErrorRateHigh" not in alerts(prometheus)
        time.sleep(0.5)

    firing = wait_for(
        lambda: [
            a
            for a in webhook.alerts
            if a["labels"]["alertname"] == "SyntheticFailureRateHigh" and a["status"] == "firing"
        ],
        60,
        "Alertmanager to deliver the synthetic alert to the webhook",
    )
    journeys = {alert["labels"]["journey"] for alert in firing}
    assert journeys <= {
        "test_reservations.py::test_user_can_make_a_reservation",
        "test_reservations.py::test_guest_can_book_read_and_cancel_a_reservation",
        "test_booking_page.py::test_guest_can_book_a_table_on_the_booking_page[chromium]",
    }
    severities = {
        "test_user_can_make_a_reservation": "critical",
        "test_guest_can_book_read_and_cancel_a_reservation": "warning",
        "test_guest_can_book_a_table_on_the_booking_page[chromium]": "critical",
    }
    for alert in firing:  # from the journeys' @pytest.mark.labels, through synthetic_journey_info
        assert alert["labels"]["severity"] == severities[alert["labels"]["journey"].split("::")[1]]
        assert alert["labels"]["team"] == "reservations"
    assert all(alert["labels"]["journey"] in alert["annotations"]["summary"] for alert in firing)

    set_faults(stack["target"], {"status_codes": [500]})
    wait_for(lambda: "firing" in alerts(prometheus).get("ServiceErrorRateHigh", set()), 60, "the service alert")
    assert "firing" in alerts(prometheus)["SyntheticFailureRateHigh"]


def exemplar_traces(prometheus_url: str, selector: str) -> set[str]:
    """The trace ids of the exemplars Prometheus stored for ``selector`` over the last ten minutes."""
    now = time.time()
    params = {"query": selector, "start": str(now - 600), "end": str(now)}
    answer = requests.get(f"{prometheus_url}/api/v1/query_exemplars", params=params, timeout=5).json()
    assert answer["status"] == "success", answer
    return {e["labels"].get("trace_id", "") for series in answer["data"] for e in series["exemplars"]}


def test_a_failed_runs_trace_id_leads_to_its_exemplar_and_the_services_log_line(stack: dict[str, Any]) -> None:
    """From an alert to the cause: the failed run's trace id is an exemplar in Prometheus and names the very
    request in the Reservations Service's log."""
    prometheus, runner = stack["prometheus"], stack["runner"]

    def failed_runs() -> dict[str, str]:
        journeys = requests.get(f"{runner}/api/results", timeout=5).json()["journeys"]
        return {
            run["trace_id"]: j["journey"]
            for j in journeys
            for run in j["history"]
            if not run["passed"] and run["trace_id"]
        }

    def found() -> set[str]:
        selector = 'synthetic_request_duration_bucket{result="failure"}'
        return set(failed_runs()) & exemplar_traces(prometheus, selector)

    trace_ids = wait_for(found, 60, "a failed run's trace id among Prometheus's exemplars")
    journeys = failed_runs()
    for trace_id in trace_ids:

        def logged(trace_id: str = trace_id) -> list[str]:
            return [line for line in stack["target_process"].output().splitlines() if trace_id in line]

        lines = wait_for(logged, 10, f"trace {trace_id} ({journeys.get(trace_id)}) in the service's log")
        assert any('"trace_id": "' + trace_id in line and '"status": 40' in line for line in lines), lines

    def service_exemplars() -> set[str]:
        return exemplar_traces(prometheus, 'http_request_duration_bucket{url="/reservations"}') & set(failed_runs())

    wait_for(service_exemplars, 30, "the service's own histogram to name a failed synthetic run's trace")
