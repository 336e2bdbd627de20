"""Labels route alerts, with the real Prometheus and Alertmanager: the shipped Alertmanager example sends a
failing journey of team payments to the payments receiver only, with the severity its labels give it."""

from __future__ import annotations

import re
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts.stack import (
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

JOURNEYS = """
    import pytest

    @pytest.mark.labels(team="payments", severity="warning")
    def test_customer_can_pay():
        assert False, "card declined"

    def test_unlabelled_journey_passes():
        pass
"""


@pytest.fixture
def routed(tmp_path: Path) -> Iterator[dict[str, WebhookReceiver]]:
    require_binary("prometheus", "prometheus")
    require_binary("prometheus-alertmanager", "prometheus-alertmanager")
    journeys = tmp_path / "journeys"
    journeys.mkdir()
    (journeys / "test_pay.py").write_text(textwrap.dedent(JOURNEYS))
    names = ("on-call-webhook", "payments-webhook", "reservations-webhook", "warnings-webhook")
    receivers = {name: WebhookReceiver() for name in names}
    processes: list[RunningProcess] = []
    try:
        runner, runner_url = start_runner(tmp_path, "--journeys", str(journeys), "--interval", "1", "--timeout", "2")
        processes.append(runner)
        alertmanager, alertmanager_url = start_alertmanager(
            tmp_path, shipped_alertmanager_config({name: r.url for name, r in receivers.items()})
        )
        processes.append(alertmanager)
        rules = tmp_path / "rules.yml"
        rules.write_text(re.sub(r"for: \S+", "for: 2s", RULES_PATH.read_text()))
        config = prometheus_config({RUNNER_JOB: host_port(runner_url)}, host_port(alertmanager_url), [rules], "1s")
        prometheus, _ = start_prometheus(tmp_path, config)
        processes.append(prometheus)
        yield receivers
    finally:
        for process in reversed(processes):
            process.stop()
        for receiver in receivers.values():
            receiver.shutdown()


def firing(receiver: WebhookReceiver, alertname: str) -> list[dict[str, Any]]:
    return [a for a in receiver.alerts if a["labels"]["alertname"] == alertname and a["status"] == "firing"]


def test_a_failing_payments_journey_reaches_only_the_payments_receiver_with_its_severity(
    routed: dict[str, WebhookReceiver],
) -> None:
    payments = wait_for(
        lambda: firing(routed["payments-webhook"], "SyntheticFailureRateHigh"), 90, "the payments receiver"
    )
    labels = payments[0]["labels"]
    assert labels["journey"] == "test_pay.py::test_customer_can_pay"
    assert (labels["team"], labels["severity"]) == ("payments", "warning")
    time.sleep(3)  # several more evaluations and group intervals: nothing goes anywhere else
    for name in ("on-call-webhook", "reservations-webhook", "warnings-webhook"):
        assert firing(routed[name], "SyntheticFailureRateHigh") == [], name
