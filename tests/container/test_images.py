"""The images scripts/container-build makes, run under podman: non-root, read-only root, journeys mounted in.

Slow (they need podman, mmdebstrap and a few minutes the first time); CI runs them. Each xdist worker that
gets one of them runs scripts/container-build once, which builds one at a time: the second is a cached one.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from tests.container.podman import (
    ALERTMANAGER_IMAGE,
    IMAGES,
    PROMETHEUS_IMAGE,
    RUNNER_IMAGE,
    SERVICE_IMAGE,
    build_images,
    health,
    image_id,
    podman,
    running,
)
from tests.processes import REPO_ROOT, free_port, set_faults, wait_for

pytestmark = pytest.mark.slow

# Root filesystem read-only and /tmp the only writable place: podman's own extra tmpfs mounts are off.
READ_ONLY = ("--read-only", "--read-only-tmpfs=false", "--tmpfs", "/tmp")
ADDED_JOURNEY = "test_added.py::test_added_journey_writes_a_temporary_file"
BROWSER_JOURNEY = "test_added_browser.py::test_added_browser_journey_clicks_a_button[chromium]"
BROWSER_JOURNEY_SOURCE = """
def test_added_browser_journey_clicks_a_button(page):
    page.set_content("<button id=b onclick=\\"this.textContent='clicked'\\">click</button>")
    page.click("#b")
    assert page.text_content("#b") == "clicked"
"""
ADDED_JOURNEY_SOURCE = """
import os


def test_added_journey_writes_a_temporary_file(tmp_path):
    (tmp_path / "note.txt").write_text("the root filesystem is read-only, /tmp is not")
    assert os.getuid() == 10001
"""
PEM_BODY = re.compile(r"-----BEGIN CERTIFICATE-----\s*(.+?)\s*-----END CERTIFICATE-----", re.DOTALL)
MAX_SCANNED_BYTES = 4 * 1024 * 1024


def journey_states(url: str) -> dict[str, str]:
    """{journey: state} from the runner's /api/results; {} while it does not answer."""
    try:
        results = requests.get(f"{url}/api/results", timeout=5).json()
    except requests.RequestException:
        return {}
    return {journey["journey"]: journey["state"] for journey in results["journeys"]}


def assert_healthy_with_healthz(container: str, image: str) -> None:
    """The image's healthcheck asks /healthz, and passes."""
    (config,) = json.loads(podman("image", "inspect", image).stdout)
    assert any("/healthz" in part for part in config["Healthcheck"]["Test"]), config["Healthcheck"]
    podman("healthcheck", "run", container)
    assert health(container) == "healthy"


def test_the_runner_runs_mounted_journeys_a_browser_one_too_as_non_root_on_a_read_only_root(
    images: dict[str, str], tmp_path: Path
) -> None:
    journeys = tmp_path / "journeys"
    journeys.mkdir(mode=0o755)
    journeys.chmod(0o755)  # the container's user reads it
    (journeys / "test_added.py").write_text(ADDED_JOURNEY_SOURCE)
    (journeys / "test_added_browser.py").write_text(BROWSER_JOURNEY_SOURCE)
    port = free_port()
    mount = ("--volume", f"{journeys}:/app/journeys:ro")
    options = (*mount, "--publish", f"127.0.0.1:{port}:8000", "-e", "INTERVAL_SEC=1")
    with running(f"{RUNNER_IMAGE}:dev", *READ_ONLY, *options) as container:
        url = f"http://127.0.0.1:{port}"
        mounted = {ADDED_JOURNEY: "passing", BROWSER_JOURNEY: "passing"}  # and none of the built-in ones
        try:
            wait_for(lambda: journey_states(url) == mounted, 90, "the mounted journeys, and only those, to pass")
        except AssertionError as error:
            raise AssertionError(f"{error}: {journey_states(url)}\n{podman('logs', container).stderr}") from None
        assert podman("exec", container, "id", "-u").stdout.strip() == "10001"
        denied = podman("exec", container, "touch", "/app/journeys-were-here", check=False)
        assert denied.returncode != 0 and "Read-only file system" in denied.stderr
        assert_healthy_with_healthz(container, f"{RUNNER_IMAGE}:dev")


def test_the_service_runs_as_non_root_on_a_read_only_root_and_takes_faults(images: dict[str, str]) -> None:
    port = free_port()
    token = "admin-token-for-the-test"
    options = ("--publish", f"127.0.0.1:{port}:8080", "-e", f"TARGET_ADMIN_TOKEN={token}")
    with running(f"{SERVICE_IMAGE}:dev", *READ_ONLY, *options) as container:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _answers(f"{url}/healthz"), 60, "the service's /healthz")
        set_faults(url, {"error_rate": 1, "status_codes": [503]}, token)
        assert requests.post(f"{url}/reservations", json={"username": "alice"}, timeout=5).status_code == 503
        assert podman("exec", container, "id", "-u").stdout.strip() == "10001"
        assert_healthy_with_healthz(container, f"{SERVICE_IMAGE}:dev")


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_the_python_images_run_debians_python_3_11(images: dict[str, str]) -> None:
    for image in (RUNNER_IMAGE, SERVICE_IMAGE):
        version = podman("run", "--rm", f"{image}:dev", "dpkg-query", "--show", "--showformat=${Version}", "python3.11")
        assert version.stdout.startswith("3.11."), version.stdout
    for image, binary in ((PROMETHEUS_IMAGE, "prometheus"), (ALERTMANAGER_IMAGE, "prometheus-alertmanager")):
        assert podman("run", "--rm", "--entrypoint", "dpkg-query", f"{image}:dev", "--show", binary).stdout


def test_no_image_keeps_the_proxy_certificate(images: dict[str, str]) -> None:
    """The CA bundle given to pip in the build (a secret) is in no layer: no file holds the host's own CAs."""
    needles = [body[64:128].encode() for body in local_certificates()]
    for image in IMAGES:
        root = Path(podman("image", "mount", f"{image}:dev").stdout.strip())
        try:
            assert not any((root / "run" / "secrets").glob("*")), image
            holders = [str(path.relative_to(root)) for path in files_containing(root, needles)]
        finally:
            podman("image", "unmount", f"{image}:dev", check=False)
        assert holders == [], f"{image} keeps a certificate of this machine's own in {holders}"


def local_certificates() -> set[str]:
    """The certificates this machine's bundle adds to Debian's (a proxy's CA, say), as base64 bodies."""

    def bodies(text: str) -> set[str]:
        return {"".join(body.split()) for body in PEM_BODY.findall(text)}

    bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    host = bodies(bundle.read_text()) if bundle.exists() else set()
    debian = {body for path in Path("/usr/share/ca-certificates").rglob("*.crt") for body in bodies(path.read_text())}
    return host - debian


def files_containing(root: Path, needles: list[bytes]) -> list[Path]:
    if not needles:
        return []
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.stat().st_size <= MAX_SCANNED_BYTES:
            data = path.read_bytes()
            if any(needle in data for needle in needles):
                found.append(path)
    return found


def test_a_second_build_is_quiet_and_changes_nothing(images: dict[str, str]) -> None:
    result = build_images()
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert {image: image_id(f"{image}:dev") for image in IMAGES} == images


def test_a_changed_source_is_built_again(images: dict[str, str], tmp_path: Path) -> None:
    """Podman's layer cache does not serve a stale image: a journey added to a copy is in its build."""
    copy = tmp_path / "repo"
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    )
    for name in listed.stdout.decode().split("\0"):
        if name and (REPO_ROOT / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, copy / name)
    (copy / "journeys" / "test_added.py").write_text(ADDED_JOURNEY_SOURCE)
    try:
        result = build_images(copy, IMAGE_TAG="changed-source-test")
        assert result.returncode == 0, result.stdout + result.stderr
        listing = podman("run", "--rm", f"{RUNNER_IMAGE}:changed-source-test", "ls", "/app/journeys").stdout.split()
        assert "test_added.py" in listing
        assert "test_added.py" not in podman("run", "--rm", f"{RUNNER_IMAGE}:dev", "ls", "/app/journeys").stdout
    finally:
        podman("rmi", *(f"{image}:changed-source-test" for image in IMAGES), check=False)
