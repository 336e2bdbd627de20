"""The container files say what the container tests rely on, without running anything (fast)."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import yaml

from tests.container.podman import IMAGES
from tests.processes import REPO_ROOT, require_binary

DOCKERFILES = (REPO_ROOT / "Dockerfile", REPO_ROOT / "target_service" / "Dockerfile")
PODMAN_DIR = REPO_ROOT / "deploy" / "podman"


def build_stage(text: str) -> str:
    """The lines of a Dockerfile from its first FROM up to its second."""
    return text.split("\nFROM ")[1]


def test_the_dockerfiles_default_to_the_public_base_and_share_their_build_stage() -> None:
    texts = [path.read_text() for path in DOCKERFILES]
    for text in texts:
        assert "\nARG BASE_IMAGE=python:3.11-slim\n" in text
        assert text.count("\nFROM ${BASE_IMAGE}") == 2
    # Equal stages are one cached build for both images.
    assert build_stage(texts[0]) == build_stage(texts[1])


def test_the_podman_override_uses_the_images_the_build_script_makes() -> None:
    override = (PODMAN_DIR / "compose.podman.yaml").read_text()
    build_script = (REPO_ROOT / "scripts" / "container-build").read_text()
    assert set(re.findall(r"image: (\S+):dev", override)) == set(IMAGES)
    for image in IMAGES:
        assert re.search(rf"^build {image} ", build_script, re.MULTILINE), image
    for name in ("prometheus", "alertmanager"):
        assert f"deploy/podman/{name}.Containerfile" in build_script


def compose_config() -> dict[str, Any]:
    """compose.yaml with the podman override, as docker-compose resolves them (ports are 'ip:host:container')."""
    files = ("--file", str(REPO_ROOT / "compose.yaml"), "--file", str(PODMAN_DIR / "compose.podman.yaml"))
    docker_compose = require_binary("docker-compose", "docker-compose")
    result = subprocess.run([docker_compose, *files, "config"], capture_output=True, text=True, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = yaml.safe_load(result.stdout)
    return config


def test_compose_publishes_on_loopback_and_runs_the_python_services_read_only() -> None:
    services = compose_config()["services"]
    for name, service in services.items():
        assert all(port.startswith("127.0.0.1:") for port in service["ports"]), (name, service["ports"])
    for name in ("runner", "target-service"):
        assert services[name]["read_only"] is True and services[name]["tmpfs"] == ["/tmp"], name
        assert "/healthz" in " ".join(services[name]["healthcheck"]["test"])
        # podman's Docker API (4.3) splits a healthcheck's arguments at spaces.
        assert not any(" " in part for part in services[name]["healthcheck"]["test"]), name


def test_ci_installs_what_the_container_tests_use() -> None:
    packages = set((REPO_ROOT / ".ci" / "run").read_text().split())
    assert {"podman", "runc", "mmdebstrap", "docker-compose", "golang-github-containernetworking-plugin-dnsname"} <= (
        packages
    )
