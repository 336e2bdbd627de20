"""The shipped Prometheus, Alertmanager and compose files pass their own tools' checks and unit tests."""

from __future__ import annotations

import subprocess

import pytest

from tests.processes import REPO_ROOT, require_binary

PROMETHEUS_DIR = REPO_ROOT / "prometheus"


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)


def test_prometheus_config_is_valid() -> None:
    result = run(require_binary("promtool", "prometheus"), "check", "config", str(PROMETHEUS_DIR / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 24 rules found" in result.stdout


def test_rules_are_valid() -> None:
    result = run(require_binary("promtool", "prometheus"), "check", "rules", str(PROMETHEUS_DIR / "rules.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_unit_tests_pass() -> None:
    result = run(require_binary("promtool", "prometheus"), "test", "rules", str(PROMETHEUS_DIR / "rules_test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_severity_and_is_unit_tested() -> None:
    rules = (PROMETHEUS_DIR / "rules.yml").read_text()
    tests = (PROMETHEUS_DIR / "rules_test.yml").read_text()
    blocks = rules.split("- alert:")[1:]
    alerts = [block.split(None, 1)[0] for block in blocks]
    assert len(alerts) == 15
    for alert, block in zip(alerts, blocks, strict=True):
        # A static severity label, or the journey's own with critical as default.
        assert "severity:" in block or '"severity", "critical", "severity", ""' in block, alert
        assert f"alertname: {alert}" in tests, f"{alert} has no promtool unit test"


def test_alertmanager_config_is_valid() -> None:
    amtool = require_binary("amtool", "prometheus-alertmanager")
    result = run(amtool, "check-config", str(PROMETHEUS_DIR / "alertmanager.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


PAYMENTS_AND_ON_CALL = "payments-webhook,on-call-webhook"


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        (["alertname=SyntheticJourneyDegraded", "severity=warning"], "warnings-webhook"),
        (["alertname=SyntheticJourneyDegraded", "severity=warning", "team=payments"], "payments-webhook"),
        (["alertname=SyntheticJourneyDegraded", "severity=warning", "team=search"], "warnings-webhook"),
        (["alertname=SyntheticFixtureFailing", "severity=critical", "fixture=signed_in"], "on-call-webhook"),
        (["alertname=SyntheticFailureRateHigh", "severity=critical", "team=payments"], PAYMENTS_AND_ON_CALL),
        (["alertname=SyntheticSLOBurnRateHigh", "severity=page", "team=payments"], PAYMENTS_AND_ON_CALL),
        (["alertname=SyntheticSLOBurnRateHigh", "severity=page"], "on-call-webhook"),
        (["alertname=SyntheticSLOBurnRateHigh", "severity=ticket"], "warnings-webhook"),
        (["alertname=SyntheticSLOBurnRateHigh", "severity=ticket", "team=search"], "warnings-webhook"),
        # A certificate belongs to no journey, so to no team: like the monitor's own alerts.
        (["alertname=SyntheticTLSCertificateExpiresSoon", "severity=warning", "host=shop:443"], "warnings-webhook"),
        (["alertname=SyntheticTLSCertificateExpiresSoon", "severity=critical", "host=shop:443"], "on-call-webhook"),
        (["alertname=SyntheticLargestContentfulPaintSlow", "severity=warning", "team=payments"], "payments-webhook"),
        (["alertname=SyntheticLargestContentfulPaintSlow", "severity=warning"], "warnings-webhook"),
    ],
)
def test_warnings_never_page_and_critical_alerts_reach_on_call(labels: list[str], receivers: str) -> None:
    amtool = require_binary("amtool", "prometheus-alertmanager")
    config = f"--config.file={PROMETHEUS_DIR / 'alertmanager.yml'}"
    result = run(amtool, "config", "routes", "test", config, *labels)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receivers


def test_compose_file_is_valid() -> None:
    result = run(
        require_binary("docker-compose", "docker-compose"), "-f", str(REPO_ROOT / "compose.yaml"), "config", "-q"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    compose = (REPO_ROOT / "compose.yaml").read_text()
    assert "\nversion:" not in compose
    assert "image: prom/prometheus:v" in compose and "image: prom/alertmanager:v" in compose
