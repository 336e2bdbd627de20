"""Podman for the container tests: the project's settings, containers that are always removed, healthchecks.

Podman runs here without systemd, and so without the timers that run a container's healthcheck on its
interval: ``HealthTicker`` stands in for them, running ``podman healthcheck run`` every few seconds.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from tests.processes import REPO_ROOT, require_binary

CONTAINERS_CONF = REPO_ROOT / "deploy" / "podman" / "containers.conf"
BUILD_SCRIPT = REPO_ROOT / "scripts" / "container-build"
RUNNER_IMAGE = "localhost/synthetic-monitor"
SERVICE_IMAGE = "localhost/reservations-service"
PROMETHEUS_IMAGE = "localhost/synthetic-monitor-prometheus"
ALERTMANAGER_IMAGE = "localhost/synthetic-monitor-alertmanager"
IMAGES = (RUNNER_IMAGE, SERVICE_IMAGE, PROMETHEUS_IMAGE, ALERTMANAGER_IMAGE)
BUILD_TIMEOUT_SECONDS = 1200
HEALTH_INTERVAL_SECONDS = 2.0


def require_container_tools() -> None:
    """Podman, mmdebstrap and docker-compose: in CI a missing one fails the test, elsewhere it skips it."""
    require_binary("podman", "podman")
    require_binary("mmdebstrap", "mmdebstrap")
    require_binary("docker-compose", "docker-compose")


def podman_env(**extra: str) -> dict[str, str]:
    """The environment for podman and the build script: the project's containers.conf unless one is set."""
    return {**os.environ, "CONTAINERS_CONF": os.environ.get("CONTAINERS_CONF", str(CONTAINERS_CONF)), **extra}


def podman(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``podman ARGS``; with ``check``, a failure raises AssertionError with its output."""
    result = subprocess.run(
        ["podman", *args], capture_output=True, text=True, timeout=timeout, env=podman_env(), stdin=subprocess.DEVNULL
    )
    if check and result.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} exited {result.returncode}:\n{result.stdout}{result.stderr}")
    return result


def build_images(cwd: Path = REPO_ROOT, **env: str) -> subprocess.CompletedProcess[str]:
    """Run scripts/container-build in ``cwd`` (a copy of the repository, say) and return what it did."""
    return subprocess.run(
        [str(cwd / "scripts" / "container-build")],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_SECONDS,
        env=podman_env(**env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


def image_id(image: str) -> str:
    return podman("image", "inspect", "--format", "{{.Id}}", image).stdout.strip()


@contextmanager
def running(image: str, *options: str, command: tuple[str, ...] = ()) -> Iterator[str]:
    """A detached container of ``image``, removed on the way out; yields its name."""
    name = f"synthetic-test-{uuid.uuid4().hex[:12]}"
    podman("run", "--detach", "--name", name, *options, image, *command)
    try:
        yield name
    finally:
        podman("rm", "--force", "--time", "2", name, check=False)


def health(container: str) -> str:
    """'healthy', 'unhealthy', 'starting', or '' for a container without a healthcheck."""
    return podman("inspect", "--format", "{{.State.Health.Status}}", container).stdout.strip()


class HealthTicker:
    """Run the healthchecks of the containers labelled ``label`` every few seconds, as systemd would."""

    def __init__(self, label: str, interval_seconds: float = HEALTH_INTERVAL_SECONDS) -> None:
        self.label = label
        self.interval_seconds = interval_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tick, name="health-ticker", daemon=True)

    def __enter__(self) -> HealthTicker:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _tick(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            listed = podman("ps", "--quiet", "--filter", f"label={self.label}", check=False, timeout=60)
            for container in listed.stdout.split():
                podman("healthcheck", "run", container, check=False, timeout=60)
            self._stop.wait(max(0.0, self.interval_seconds - (time.monotonic() - started)))
