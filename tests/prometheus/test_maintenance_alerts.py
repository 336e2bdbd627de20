"""A mute maintenance window, with the real runner, Prometheus and Alertmanager: a failing journey in the window
is run and recorded but alerts for nothing, never pending, firing or delivered, while a failing journey outside
any window pages through the shipped Alertmanager example."""

from __future__ import annotations

import json
import re
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
import yaml

from scripts.stack import (
    REPO_ROOT,
    RULES_PATH,
    RUNNER_JOB,
    RunningProcess,
    WebhookReceiver,
    host_port,
    prometheus_config,
    shipped_alertmanager_config,
    start_alertmanager,
    start_prometheus,
    start_runner,
)
from tests.processes import journeys, require_binary, wait_for

pytestmark = pytest.mark.slow

ALERTMANAGER_PATH = REPO_ROOT / "prometheus" / "alertmanager.yml"

JOURNEYS = {
    "test_search.py": """
        def test_customer_can_search():
            assert False, "no results for 'tent'"
    """,
    "test_pay.py": """
        def test_customer_can_pay():
            assert False, "card declined"
    """,
    "test_home.py": """
        def test_customer_can_read_the_home_page():
            pass
    """,
}
MUTED = "test_search.py::test_customer_can_search"
CONTROL = "test_pay.py::test_customer_can_pay"
PASSING = "test_home.py::test_customer_can_read_the_home_page"
MAINTENANCE = """
    windows:
      - name: search deploy
        start: {start}
        end: {end}
        journeys: {{match: "test_search.py::*"}}
        mode: mute
"""
WAIT_SECONDS = 180.0  # a first cycle, two scrapes, `for` and group_wait, on a busy machine
WATCH_SECONDS = 6.0  # several more evaluation intervals (1 s) and group intervals (1 s) after the control fired
POLL_SECONDS = 0.25


@dataclass(frozen=True, slots=True)
class Stack:
    """The running stack as the tests see it: a webhook per receiver of the shipped file, Prometheus, Alertmanager."""

    receivers: dict[str, WebhookReceiver]
    prometheus_url: str
    alertmanager_url: str


def maintenance_file(now: datetime) -> str:
    """A mute window over the search journey that began an hour ago and lasts a day."""
    start, end = (
        moment.strftime("%Y-%m-%dT%H:%M:%SZ") for moment in (now - timedelta(hours=1), now + timedelta(days=1))
    )
    return textwrap.dedent(MAINTENANCE.format(start=start, end=end))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require_binary("prometheus", "prometheus")
    require_binary("prometheus-alertmanager", "prometheus-alertmanager")
    tmp_path = tmp_path_factory.mktemp("maintenance")
    folder = journeys(tmp_path, JOURNEYS)
    windows = tmp_path / "maintenance.yml"
    windows.write_text(maintenance_file(datetime.now(UTC)))
    shipped = yaml.safe_load(ALERTMANAGER_PATH.read_text())
    receivers = {receiver["name"]: WebhookReceiver() for receiver in shipped["receivers"]}
    processes: list[RunningProcess] = []
    try:
        # A journey timeout well above a cycle's time, so SyntheticMonitorDown (3 intervals + timeout) stays quiet.
        runner, runner_url = start_runner(
            tmp_path, "--journeys", str(folder), "--interval", "1", "--timeout", "10", "--maintenance", str(windows)
        )
        processes.append(runner)
        alertmanager, alertmanager_url = start_alertmanager(
            tmp_path, shipped_alertmanager_config({name: r.url for name, r in receivers.items()})
        )
        processes.append(alertmanager)
        rules = tmp_path / "rules.yml"
        rules.write_text(re.sub(r"for: \S+", "for: 2s", RULES_PATH.read_text()))
        config = prometheus_config({RUNNER_JOB: host_port(runner_url)}, host_port(alertmanager_url), [rules], "1s")
        prometheus, prometheus_url = start_prometheus(tmp_path, config)
        processes.append(prometheus)
        yield Stack(receivers, prometheus_url, alertmanager_url)
    finally:
        for process in reversed(processes):
            process.stop()
        for receiver in receivers.values():
            receiver.shutdown()


def query(stack: Stack, promql: str) -> list[dict[str, Any]]:
    """The result of an instant query: [{"metric": labels, "value": [time, "value"]}]."""
    response = requests.get(f"{stack.prometheus_url}/api/v1/query", params={"query": promql}, timeout=5)
    response.raise_for_status()
    result: list[dict[str, Any]] = response.json()["data"]["result"]
    return result


def delivered_for(stack: Stack, journey: str) -> list[tuple[str, dict[str, Any]]]:
    """Every post, of any alert, firing or resolved, that names ``journey`` anywhere, with the receiver it reached."""
    return [
        (name, alert)
        for name, receiver in stack.receivers.items()
        for alert in receiver.alerts
        if journey in json.dumps(alert)
    ]


def control_paged(stack: Stack) -> list[str]:
    """The receivers that got the control journey's SyntheticFailureRateHigh, firing."""
    return [
        name
        for name, alert in delivered_for(stack, CONTROL)
        if alert["status"] == "firing" and alert["labels"]["alertname"] == "SyntheticFailureRateHigh"
    ]


def prometheus_alerts_for(stack: Stack, journey: str) -> list[dict[str, Any]]:
    """Prometheus' pending and firing alerts that name ``journey`` anywhere (labels or annotations)."""
    response = requests.get(f"{stack.prometheus_url}/api/v1/alerts", timeout=5)
    response.raise_for_status()
    return [alert for alert in response.json()["data"]["alerts"] if journey in json.dumps(alert)]


def alertmanager_alerts_for(stack: Stack, journey: str) -> list[dict[str, Any]]:
    """The alerts Alertmanager holds, active, silenced or inhibited, that name ``journey`` anywhere."""
    response = requests.get(f"{stack.alertmanager_url}/api/v2/alerts", timeout=5)
    response.raise_for_status()
    return [alert for alert in response.json() if journey in json.dumps(alert)]


def sightings(stack: Stack, journey: str) -> set[tuple[str, str, str]]:
    """Where an alert naming ``journey`` is now: {(Prometheus, Alertmanager or a receiver, alertname, state)}."""
    return {
        *(
            ("prometheus", alert["labels"]["alertname"], alert["state"])
            for alert in prometheus_alerts_for(stack, journey)
        ),
        *(
            ("alertmanager", alert["labels"]["alertname"], alert["status"]["state"])
            for alert in alertmanager_alerts_for(stack, journey)
        ),
        *((name, alert["labels"]["alertname"], alert["status"]) for name, alert in delivered_for(stack, journey)),
    }


def watch(seconds: float, look: Callable[[], set[tuple[str, str, str]]]) -> set[tuple[str, str, str]]:
    """Everything ``look`` returns, polled for ``seconds``."""
    seen: set[tuple[str, str, str]] = set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen |= look()
        time.sleep(POLL_SECONDS)
    return seen


def test_a_failing_journey_outside_any_window_pages_on_call(stack: Stack) -> None:
    receivers = wait_for(lambda: control_paged(stack), WAIT_SECONDS, "the control journey's page")
    assert set(receivers) == {"on-call-webhook"}, receivers


def test_a_failing_journey_in_a_mute_window_is_never_pending_firing_or_delivered(stack: Stack) -> None:
    wait_for(lambda: control_paged(stack), WAIT_SECONDS, "the control journey's page")
    # The control fails in the same cycles: were the muted journey not left out, it would be firing by now.
    assert watch(WATCH_SECONDS, lambda: sightings(stack, MUTED)) == set()
    # ALERTS keeps every pending and firing moment of every alert since Prometheus started.
    assert query(stack, f'count_over_time(ALERTS{{journey="{MUTED}"}}[1h])') == []
    fired = query(stack, f'count_over_time(ALERTS{{journey="{CONTROL}", alertstate="firing"}}[1h])')
    assert [series["metric"]["alertname"] for series in fired] == ["SyntheticFailureRateHigh"], fired
    # Left out where the recording rule leaves it out: the control has a failure ratio, the muted journey none.
    assert query(stack, f'journey:synthetic_failure_ratio:period{{journey="{MUTED}"}}') == []
    assert query(stack, f'journey:synthetic_failure_ratio:period{{journey="{CONTROL}"}} > 0.10') != []
    assert sightings(stack, PASSING) == set()


def test_a_failing_journey_in_a_mute_window_is_recorded_all_the_same(stack: Stack) -> None:
    failures = f'synthetic_journey_muted_runs_total{{journey="{MUTED}", result="failure"}} > 0'
    wait_for(lambda: query(stack, failures), WAIT_SECONDS, "the muted journey's failures in Prometheus")
    # Counted apart: nothing an alert reads holds them, so they cannot page after the window either.
    observed = query(stack, f'synthetic_request_duration_count{{journey="{MUTED}"}} > 0')
    assert observed == [], observed
    [muted] = query(stack, f'synthetic_journey_maintenance{{journey="{MUTED}"}}')
    assert muted["value"][1] == "1"
    outside = query(stack, f'synthetic_journey_maintenance{{journey=~"{CONTROL}|{PASSING}"}}')
    assert {series["metric"]["journey"]: series["value"][1] for series in outside} == {CONTROL: "0", PASSING: "0"}
