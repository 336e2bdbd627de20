"""One cause, one page, with the real runner, Prometheus and Alertmanager: a session fixture that fails blocks ten
journeys; the shipped Alertmanager example delivers SyntheticFixtureFailing once and inhibits the ten journeys'
own failure alerts, while a journey failing for a reason of its own still pages."""

from __future__ import annotations

import re
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
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
from tests.processes import require_binary, wait_for

pytestmark = pytest.mark.slow

ALERTMANAGER_PATH = REPO_ROOT / "prometheus" / "alertmanager.yml"

FIXTURE = "signed_in"
CONFTEST = """
    import pytest

    @pytest.fixture(scope="session")
    def signed_in():
        raise ConnectionError("the sign-in service refused the connection")
"""
SHOP = "".join(f"\ndef test_signed_in_customer_can_open_shop_page_{n}(signed_in):\n    pass\n" for n in range(10))
BLOCKED = frozenset(f"test_shop.py::test_signed_in_customer_can_open_shop_page_{n}" for n in range(10))
SEARCH = """
    def test_customer_can_search():
        assert False, "no results for 'tent'"

    def test_customer_can_read_the_home_page():
        pass
"""
FAILING = "test_search.py::test_customer_can_search"
WAIT_SECONDS = 180.0  # a first cycle, two scrapes, `for` and group_wait, on a busy machine
GROUP_INTERVAL_SECONDS = 1


@dataclass(frozen=True, slots=True)
class Stack:
    """The running stack as the tests see it: a webhook per receiver of the shipped file, and Alertmanager."""

    receivers: dict[str, WebhookReceiver]
    alertmanager_url: str


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require_binary("prometheus", "prometheus")
    require_binary("prometheus-alertmanager", "prometheus-alertmanager")
    tmp_path = tmp_path_factory.mktemp("blocked")
    journeys = tmp_path / "journeys"
    journeys.mkdir()
    for name, source in {"conftest.py": CONFTEST, "test_shop.py": SHOP, "test_search.py": SEARCH}.items():
        (journeys / name).write_text(textwrap.dedent(source))
    shipped = yaml.safe_load(ALERTMANAGER_PATH.read_text())
    receivers = {receiver["name"]: WebhookReceiver() for receiver in shipped["receivers"]}
    processes: list[RunningProcess] = []
    try:
        # A journey timeout well above a cycle's time, so SyntheticMonitorDown (3 intervals + timeout) stays quiet.
        runner, runner_url = start_runner(tmp_path, "--journeys", str(journeys), "--interval", "1", "--timeout", "10")
        processes.append(runner)
        alertmanager, alertmanager_url = start_alertmanager(
            tmp_path,
            shipped_alertmanager_config(
                # group_wait is the time the inhibiting alert has to reach Alertmanager after the alerts it inhibits
                # (10s in the shipped file); 2s leaves room on a busy machine.
                {name: r.url for name, r in receivers.items()},
                group_wait="2s",
                group_interval=f"{GROUP_INTERVAL_SECONDS}s",
            ),
        )
        processes.append(alertmanager)
        rules = tmp_path / "rules.yml"
        rules.write_text(re.sub(r"for: \S+", "for: 2s", RULES_PATH.read_text()))
        config = prometheus_config({RUNNER_JOB: host_port(runner_url)}, host_port(alertmanager_url), [rules], "1s")
        prometheus, _ = start_prometheus(tmp_path, config)
        processes.append(prometheus)
        yield Stack(receivers, alertmanager_url)
    finally:
        for process in reversed(processes):
            process.stop()
        for receiver in receivers.values():
            receiver.shutdown()


def delivered(stack: Stack, alertname: str, **labels: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Distinct firing alerts named ``alertname`` with ``labels`` that reached a receiver: {(receiver, fingerprint):
    alert}. Alertmanager may post the same alert again (a group's re-send); it counts once."""
    return {
        (name, alert["fingerprint"]): alert
        for name, receiver in stack.receivers.items()
        for alert in receiver.alerts
        if alert["status"] == "firing"
        and alert["labels"]["alertname"] == alertname
        and all(alert["labels"].get(key) == value for key, value in labels.items())
    }


def blocked_journeys_notified(stack: Stack) -> list[tuple[str, dict[str, str]]]:
    """Every post, firing or resolved, of a failure alert of a blocked journey, with the receiver it reached."""
    return [
        (name, alert["labels"])
        for name, receiver in stack.receivers.items()
        for alert in receiver.alerts
        if alert["labels"]["alertname"] == "SyntheticFailureRateHigh"
        and (alert["labels"].get("journey") in BLOCKED or "fixture" in alert["labels"])
    ]


def inhibited_in_alertmanager(stack: Stack) -> dict[str, dict[str, Any]]:
    """The blocked journeys' SyntheticFailureRateHigh alerts that Alertmanager holds and inhibits, by journey."""
    response = requests.get(
        f"{stack.alertmanager_url}/api/v2/alerts", params={"filter": 'alertname="SyntheticFailureRateHigh"'}, timeout=5
    )
    response.raise_for_status()
    return {
        alert["labels"]["journey"]: alert
        for alert in response.json()
        if alert["labels"].get("journey") in BLOCKED
        and alert["status"]["state"] == "suppressed"
        and alert["status"]["inhibitedBy"]
    }


def test_a_failing_shared_fixture_pages_on_call_once_with_the_number_of_journeys_it_blocks(stack: Stack) -> None:
    wait_for(
        lambda: delivered(stack, "SyntheticFixtureFailing", fixture=FIXTURE), WAIT_SECONDS, "SyntheticFixtureFailing"
    )
    time.sleep(5 * GROUP_INTERVAL_SECONDS)  # several more evaluations and group intervals: nothing else arrives
    pages = delivered(stack, "SyntheticFixtureFailing")
    assert [receiver for receiver, _ in pages] == ["on-call-webhook"], pages
    [alert] = pages.values()
    assert alert["labels"]["fixture"] == FIXTURE
    assert alert["labels"]["severity"] == "critical"
    assert "blocks 10 synthetic journey(s)" in alert["annotations"]["summary"]


def test_the_journeys_a_failing_fixture_blocks_page_no_one_while_a_journey_failing_on_its_own_pages(
    stack: Stack,
) -> None:
    wait_for(lambda: delivered(stack, "SyntheticFailureRateHigh", journey=FAILING), WAIT_SECONDS, "the failing journey")
    # The ten blocked journeys' alerts reach Alertmanager, which holds them back behind SyntheticFixtureFailing.
    held = wait_for(
        lambda: len(found := inhibited_in_alertmanager(stack)) == len(BLOCKED) and found,
        WAIT_SECONDS,
        "Alertmanager to inhibit the ten blocked journeys' alerts",
    )
    assert {alert["labels"]["fixture"] for alert in held.values()} == {FIXTURE}
    assert all(f"It is blocked: fixture {FIXTURE} failed" in a["annotations"]["description"] for a in held.values())
    time.sleep(5 * GROUP_INTERVAL_SECONDS)  # several more group intervals: still held back, still delivered nowhere
    assert len(inhibited_in_alertmanager(stack)) == len(BLOCKED)
    assert blocked_journeys_notified(stack) == []
    own = delivered(stack, "SyntheticFailureRateHigh", journey=FAILING)
    assert [receiver for receiver, _ in own] == ["on-call-webhook"], own
    [alert] = own.values()
    assert "fixture" not in alert["labels"]
    assert "failures by reason over the last 10 minutes: assertion" in alert["annotations"]["description"]
