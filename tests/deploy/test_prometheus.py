"""Scraping the runners in Kubernetes: the PrometheusRule is prometheus/rules.yml, the PodMonitor finds the
runners' http port as job synthetic-monitor, and the plain scrape config keeps exactly the runners' ports.

No Kubernetes API is involved: the scrape config's relabelling runs in a real Prometheus over targets shaped
the way its Kubernetes discovery shapes them (discovery/kubernetes/pod.go, Prometheus v2.53.2).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from scripts import prometheus_rule
from scripts.stack import start_prometheus
from tests.deploy.kustomize import DEPLOY_DIR, OVERLAYS, RUNNER_BUILDS, build, one, runner
from tests.processes import REPO_ROOT, free_port, require_binary, wait_for

RULES_PATH = REPO_ROOT / "prometheus" / "rules.yml"
SCRAPE_CONFIG = DEPLOY_DIR / "prometheus-scrape.yml"
JOB = "synthetic-monitor"  # the job SyntheticMonitorDown names
NAMESPACE = "monitoring"


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)


def test_prometheus_rule_is_what_the_generator_makes_from_rules_yml() -> None:
    result = run(sys.executable, "-m", "scripts.prometheus_rule")
    assert result.returncode == 0, result.stderr
    committed = prometheus_rule.OUTPUT_PATH.read_text(encoding="utf-8")
    assert result.stdout == committed, (
        "deploy/kubernetes/prometheus-operator/prometheusrule.yaml is out of date with prometheus/rules.yml; "
        f"run: {prometheus_rule.WRITE_COMMAND}"
    )


def test_prometheus_rule_holds_exactly_the_groups_of_rules_yml() -> None:
    rule = one(build("prometheus-operator"), "PrometheusRule")
    assert rule["spec"]["groups"] == yaml.safe_load(RULES_PATH.read_text())["groups"]


def test_prometheus_rule_passes_promtool(tmp_path: Path) -> None:
    rule = one(build("prometheus-operator"), "PrometheusRule")
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    result = run(require_binary("promtool", "prometheus"), "check", "rules", str(rules))
    assert result.returncode == 0, result.stdout + result.stderr
    rules_in_source = len(re.findall(r"^\s*- (?:alert|record):", RULES_PATH.read_text(), re.MULTILINE))
    assert f"SUCCESS: {rules_in_source} rules found" in result.stdout


@pytest.mark.parametrize(
    ("rules", "complaint"),
    [
        ("groups: []\nrecording_only: true\n", "only a top-level groups: list"),
        ("groups: [{name: a, rules: []}]\n", "no line 'groups:'"),
        ("- just a list\n", "only a top-level groups: list"),
    ],
)
def test_rule_generator_refuses_rules_it_cannot_copy_unchanged(rules: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=re.escape(complaint)):
        prometheus_rule.render(rules)


def test_rule_generator_keeps_the_comments_of_rules_yml() -> None:
    source = RULES_PATH.read_text()
    after_groups = source[source.index("\ngroups:") :]
    comments = [line.strip() for line in after_groups.splitlines() if line.strip().startswith("#")]
    manifest = prometheus_rule.render(source)
    copied = [line.strip() for line in manifest.splitlines() if line.strip().startswith("#")]
    assert comments and copied[-len(comments) :] == comments


@pytest.mark.parametrize("path", RUNNER_BUILDS)
def test_pod_monitor_scrapes_the_runner_pods_http_port_as_the_alerts_job(path: str) -> None:
    monitor = one(build("prometheus-operator"), "PodMonitor")
    template = one(build(path), "StatefulSet")["spec"]["template"]
    labels = template["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert labels[monitor["spec"]["jobLabel"]] == JOB
    ports = {port["name"] for port in runner({"spec": {"template": template}})["ports"]}
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] in ports
    assert endpoint["path"] == "/metrics"
    assert f'up{{job="{JOB}"}}' in RULES_PATH.read_text()


def test_scrape_config_keeps_the_http_port_of_running_runner_pods_only(tmp_path: Path) -> None:
    require_binary("prometheus", "prometheus")
    groups, expected = discovered_targets()
    targets_file = tmp_path / "targets.json"
    targets_file.write_text(json.dumps(groups))
    (job,) = yaml.safe_load(SCRAPE_CONFIG.read_text())["scrape_configs"]
    assert job["job_name"] == JOB and job["kubernetes_sd_configs"] == [{"role": "pod"}]
    del job["kubernetes_sd_configs"]
    job["file_sd_configs"] = [{"files": [str(targets_file)]}]
    # Scrapes go to a closed loopback port, never to the made-up pod addresses.
    job["relabel_configs"].append({"target_label": "__address__", "replacement": f"127.0.0.1:{free_port()}"})
    prometheus, url = start_prometheus(tmp_path, {"scrape_configs": [job]})
    try:
        check = run(require_binary("promtool", "prometheus"), "check", "config", str(tmp_path / "prometheus.yml"))
        assert check.returncode == 0, check.stdout + check.stderr

        def all_targets() -> dict[str, Any] | None:
            found: dict[str, Any] = requests.get(f"{url}/api/v1/targets?state=any", timeout=5).json()["data"]
            return found if len(found["activeTargets"]) + len(found["droppedTargets"]) == len(groups) else None

        found = wait_for(all_targets, 30, "Prometheus to discover every target")
    finally:
        prometheus.stop()
    kept = sorted((target["labels"]["namespace"], target["labels"]["pod"]) for target in found["activeTargets"])
    assert kept == sorted(expected)
    for target in found["activeTargets"]:
        assert set(target["labels"]) == {"instance", "job", "namespace", "pod"}
        assert target["labels"]["job"] == JOB
        assert target["discoveredLabels"]["__meta_kubernetes_pod_container_port_name"] == "http"


def test_scrape_config_passes_promtool_with_kubernetes_discovery() -> None:
    result = run(require_binary("promtool", "prometheus"), "check", "config", str(SCRAPE_CONFIG))
    if "field kubernetes_sd_configs not found" in result.stdout + result.stderr:
        # Debian builds Prometheus without Kubernetes discovery; the test above checks the rest of the job.
        pytest.skip("this promtool was built without Kubernetes service discovery (Debian's is)")
    assert result.returncode == 0, result.stdout + result.stderr


def discovered_targets() -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """File-discovery groups for every pod of both locations plus pods to leave alone; the (namespace, pod)s to keep."""
    groups: list[dict[str, Any]] = []
    expected: list[tuple[str, str]] = []
    for location in OVERLAYS:
        statefulset = one(build(f"overlays/{location}"), "StatefulSet")
        template = statefulset["spec"]["template"]
        name = statefulset["metadata"]["name"]
        # A service-mesh sidecar with a port and a container without one: neither is a runner's /metrics.
        containers = [
            *template["spec"]["containers"],
            {"name": "istio-proxy", "ports": [{"name": "http-envoy-prom", "containerPort": 15090}]},
            {"name": "log-shipper"},
        ]
        for ordinal in range(statefulset["spec"]["replicas"]):
            pod = f"{name}-{ordinal}"
            labels = {**template["metadata"]["labels"], "apps.kubernetes.io/pod-index": str(ordinal)}
            groups += pod_targets(pod, labels, containers, "Running")
            expected.append((NAMESPACE, pod))
        # A pod that has finished keeps its address for a while.
        groups += pod_targets(f"{name}-99", template["metadata"]["labels"], containers, "Succeeded")
    other = {"app.kubernetes.io/name": "reservations-service"}
    groups += pod_targets(
        "reservations-service-0",
        other,
        [{"name": "app", "ports": [{"name": "http", "containerPort": 8080}]}],
        "Running",
    )
    return groups, expected


def pod_targets(pod: str, labels: dict[str, str], containers: list[dict[str, Any]], phase: str) -> list[dict[str, Any]]:
    """The targets Prometheus's Kubernetes discovery (role: pod) makes of one pod: one per container port."""
    address = f"10.0.{len(pod)}.{sum(map(ord, pod)) % 250 + 1}"
    meta = {
        "__meta_kubernetes_namespace": NAMESPACE,
        "__meta_kubernetes_pod_name": pod,
        "__meta_kubernetes_pod_ip": address,
        "__meta_kubernetes_pod_phase": phase,
        "__meta_kubernetes_pod_ready": str(phase == "Running").lower(),
        "__meta_kubernetes_pod_controller_kind": "StatefulSet",
        "__meta_kubernetes_pod_controller_name": pod.rsplit("-", 1)[0],
    }
    for key, value in labels.items():
        meta[f"__meta_kubernetes_pod_label_{re.sub(r'[^a-zA-Z0-9_]', '_', key)}"] = value
        meta[f"__meta_kubernetes_pod_labelpresent_{re.sub(r'[^a-zA-Z0-9_]', '_', key)}"] = "true"
    targets = []
    for container in containers:
        container_meta = {**meta, "__meta_kubernetes_pod_container_name": container["name"]}
        ports = container.get("ports", [])
        if not ports:
            targets.append({"targets": [address], "labels": container_meta})
        for port in ports:
            targets.append(
                {
                    "targets": [f"{address}:{port['containerPort']}"],
                    "labels": {
                        **container_meta,
                        "__meta_kubernetes_pod_container_port_name": port.get("name", ""),
                        "__meta_kubernetes_pod_container_port_number": str(port["containerPort"]),
                        "__meta_kubernetes_pod_container_port_protocol": port.get("protocol", "TCP"),
                    },
                }
            )
    return targets
