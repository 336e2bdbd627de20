"""The compose stack under podman: every healthcheck passes, then a broken service's alert reaches a webhook.

It runs compose.yaml with deploy/podman/compose.podman.yaml (the images from Debian's packages) through
docker-compose and podman's Docker API, plus an override written here: Prometheus scrapes and evaluates
every 2 s with the rules' ``for:`` cut to 3 s, the service starts without injected faults, and an alert
receiver joins the stack under the name the shipped Alertmanager config sends to (alert-receiver:5001).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.container.podman import RUNNER_IMAGE, HealthTicker, health, podman, podman_env
from tests.container.test_images import journey_states
from tests.processes import REPO_ROOT, free_port, set_faults, wait_for

pytestmark = pytest.mark.slow

FAST_INTERVAL = "2s"
SHORT_FOR = "3s"
ADMIN_TOKEN = "admin-token-for-the-stack-test"
RECEIVER_SCRIPT = REPO_ROOT / "tests" / "container" / "alert_receiver.py"
COMPOSE_FILES = (REPO_ROOT / "compose.yaml", REPO_ROOT / "deploy" / "podman" / "compose.podman.yaml")
# compose.yaml's port variables, and the test receiver's port.
STACK_SERVICES = ("target-service", "runner", "prometheus", "alertmanager", "alert-receiver")
PORTS = ("TARGET_PORT", "MONITOR_PORT", "PROMETHEUS_PORT", "ALERTMANAGER_PORT", "RECEIVER_PORT")
UP_TIMEOUT_SECONDS = 300


@dataclass(frozen=True, slots=True)
class Stack:
    """A running compose project and the loopback URLs of its published ports."""

    project: str
    target: str
    runner: str
    prometheus: str
    receiver: str


def health_probe(port: int) -> dict[str, Any]:
    # No spaces in the arguments: podman's Docker API splits them there.
    code = f"__import__('urllib.request').request.urlopen('http://127.0.0.1:{port}/healthz',timeout=2)"
    return {"test": ["CMD", "python", "-c", code], "interval": "10s", "timeout": "3s", "retries": 3}


def write_override(folder: Path, receiver_port: int) -> Path:
    """Faster Prometheus settings, a fault-free service and the alert receiver, as a third compose file."""
    prometheus_yml = folder / "prometheus.yml"
    prometheus_yml.write_text(
        re.sub(r"(scrape|evaluation)_interval: \S+", rf"\1_interval: {FAST_INTERVAL}", _read("prometheus.yml"))
    )
    rules_yml = folder / "rules.yml"
    rules_yml.write_text(re.sub(r"for: \S+", f"for: {SHORT_FOR}", _read("rules.yml")))
    service = ["python", "-m", "target_service", "--host", "0.0.0.0", "--port", "8080", "--faults", "none"]
    override = {
        "services": {
            "target-service": {"command": service},
            "prometheus": {
                "volumes": [
                    f"{prometheus_yml}:/etc/prometheus/prometheus.yml:ro",
                    f"{rules_yml}:/etc/prometheus/rules.yml:ro",
                ]
            },
            "alert-receiver": {
                "image": f"{RUNNER_IMAGE}:dev",
                "command": ["python", "/receiver/alert_receiver.py", "--port", "5001"],
                "read_only": True,
                "volumes": [f"{RECEIVER_SCRIPT}:/receiver/alert_receiver.py:ro"],
                "ports": [f"127.0.0.1:{receiver_port}:5001"],
                "healthcheck": health_probe(5001),
            },
        }
    }
    path = folder / "compose.test.yaml"
    path.write_text(json.dumps(override, indent=2))  # JSON is YAML
    return path


def _read(name: str) -> str:
    return (REPO_ROOT / "prometheus" / name).read_text()


@contextmanager
def podman_api() -> Iterator[str]:
    """``podman system service`` on a socket of its own; yields the DOCKER_HOST that reaches it."""
    folder = Path(tempfile.mkdtemp(prefix="podman-api-", dir="/tmp"))  # short: AF_UNIX paths are at most 108 bytes
    socket_path, log_path = folder / "podman.sock", folder / "service.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            ["podman", "system", "service", "--time=0", f"unix://{socket_path}"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=podman_env(),
            start_new_session=True,
        )
    try:
        wait_for(lambda: socket_path.exists() or process.poll() is not None, 30, "podman's API socket")
        assert process.poll() is None, f"podman system service exited:\n{log_path.read_text()}"
        yield f"unix://{socket_path}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(folder, ignore_errors=True)


class Compose:
    """docker-compose with the three files, one project name and the environment compose.yaml reads."""

    def __init__(self, project: str, override: Path, env: dict[str, str]) -> None:
        files = [arg for path in (*COMPOSE_FILES, override) for arg in ("--file", str(path))]
        self.argv = ["docker-compose", "--project-name", project, *files]
        self.env = env

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.argv, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
        )


@pytest.fixture
def stack(images: dict[str, str], tmp_path: Path) -> Iterator[Stack]:
    tmp_path.chmod(0o755)  # the containers' users read the mounted files
    project = f"synthetic-test-{tmp_path.name.lower()}".replace("_", "-")
    ports = {name: free_port() for name in PORTS}
    override = write_override(tmp_path, ports["RECEIVER_PORT"])
    with podman_api() as docker_host:
        env = podman_env(DOCKER_HOST=docker_host, INTERVAL_SEC="2", TARGET_ADMIN_TOKEN=ADMIN_TOKEN, TARGET_API_TOKEN="")
        compose = Compose(project, override, {**env, **{name: str(port) for name, port in ports.items()}})
        label = f"com.docker.compose.project={project}"
        try:
            with HealthTicker(label):
                # Every service but Grafana, whose public image cannot be pulled here (nothing builds it).
                up = compose.run("up", "--detach", "--no-build", *STACK_SERVICES, timeout=UP_TIMEOUT_SECONDS)
                assert up.returncode == 0, f"docker-compose up failed:\n{up.stdout}{up.stderr}\n{logs(compose)}"
                url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
                yield Stack(
                    project,
                    url["TARGET_PORT"],
                    url["MONITOR_PORT"],
                    url["PROMETHEUS_PORT"],
                    url["RECEIVER_PORT"],
                )
        finally:
            down = compose.run("down", "--volumes", "--timeout", "3")
            if down.returncode != 0:  # leave nothing behind, whatever compose managed
                for container in podman("ps", "-aq", "--filter", f"label={label}", check=False).stdout.split():
                    podman("rm", "--force", container, check=False)
                podman("network", "rm", "--force", f"{project}_default", check=False)


def logs(compose: Compose) -> str:
    result = compose.run("logs", "--no-color", "--tail", "30")
    return result.stdout + result.stderr


def containers(project: str) -> dict[str, str]:
    """{container name: health} of the project's containers."""
    names = podman("ps", "-a", "--filter", f"label=com.docker.compose.project={project}", "--format", "{{.Names}}")
    return {name: health(name) for name in names.stdout.split()}


def prometheus_alerts(prometheus: str) -> dict[str, set[str]]:
    """{alertname: {states}} from Prometheus's alerts API."""
    found: dict[str, set[str]] = {}
    for alert in requests.get(f"{prometheus}/api/v1/alerts", timeout=5).json()["data"]["alerts"]:
        found.setdefault(alert["labels"]["alertname"], set()).add(alert["state"])
    return found


def targets_up(prometheus: str) -> bool:
    active = requests.get(f"{prometheus}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
    jobs = {target["labels"]["job"] for target in active if target["health"] == "up"}
    return jobs == {"prometheus", "reservations-service", "synthetic-monitor"}


def all_passing(runner: str) -> dict[str, str] | None:
    """The runner's journey states once there are some and every one passes, else None."""
    states = journey_states(runner)
    return states if states and set(states.values()) == {"passing"} else None


def delivered(receiver: str, path: str, alertname: str) -> list[dict[str, Any]]:
    """The firing alerts named ``alertname`` that Alertmanager posted to ``path`` of the receiver."""
    return [
        alert
        for call in requests.get(f"{receiver}/received", timeout=5).json()
        if call["path"] == path
        for alert in call["body"].get("alerts", [])
        if alert["labels"]["alertname"] == alertname and alert["status"] == "firing"
    ]


def test_the_stack_is_healthy_and_a_broken_service_alerts_its_team(stack: Stack) -> None:
    health_by_container = containers(stack.project)
    assert len(health_by_container) == 5, health_by_container
    wait_for(lambda: set(containers(stack.project).values()) == {"healthy"}, 60, "every healthcheck to pass")
    runner_settings = "{{.HostConfig.ReadonlyRootfs}} {{.Config.User}}"
    runner = podman("inspect", "--format", runner_settings, f"{stack.project}_runner_1")
    assert runner.stdout.split() == ["true", "10001:10001"]

    wait_for(lambda: targets_up(stack.prometheus), 60, "Prometheus to scrape itself, the service and the monitor")
    states = wait_for(lambda: all_passing(stack.runner), 60, "the built-in journeys to pass")
    assert "test_reservations.py::test_user_can_make_a_reservation" in states
    for _ in range(3):  # a few evaluations of a healthy stack: nothing pending
        assert "SyntheticFailureRateHigh" not in prometheus_alerts(stack.prometheus)
        time.sleep(2)
    set_faults(stack.target, {"error_rate": 1, "status_codes": [500]}, ADMIN_TOKEN)

    firing = wait_for(
        lambda: delivered(stack.receiver, "/teams/reservations", "SyntheticFailureRateHigh"),
        120,
        "Alertmanager to post SyntheticFailureRateHigh to the reservations team's webhook",
    )
    assert {alert["labels"]["team"] for alert in firing} == {"reservations"}
    assert {alert["labels"]["journey"] for alert in firing} <= set(states)
