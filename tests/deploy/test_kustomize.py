"""deploy/kubernetes builds offline with kubectl kustomize, every object passes strict schema validation, and the
runners are unprivileged, probed, sized, and given their credentials through the environment.

Nothing here runs on a cluster: these are the built manifests, checked against the Kubernetes schemas.
"""

from __future__ import annotations

import base64
import copy
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.deploy.kustomize import (
    DEPLOY_DIR,
    KUSTOMIZATIONS,
    OVERLAYS,
    RUNNER_BUILDS,
    Object,
    build,
    build_dir,
    env,
    named,
    one,
    overlay_on,
    relative,
    runner,
)
from tests.deploy.validation import kubernetes_versions, schema_errors
from tests.processes import REPO_ROOT

IMAGE_UID = 10001  # the Dockerfile's USER
# The runner's whole process tree peaked at 104 MiB PSS (--workers 2, shipped journeys): the comment in
# base/statefulset.yaml says how it was measured. Requesting less invites the OOM killer.
MEASURED_PEAK_MIB = 104
UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


@pytest.mark.parametrize("path", KUSTOMIZATIONS)
def test_every_kustomization_builds_offline(path: str) -> None:
    kinds = {item["kind"] for item in build(path)}
    expected = {"PodMonitor", "PrometheusRule"} if path == "prometheus-operator" else {"StatefulSet", "Service"}
    assert expected <= kinds


@pytest.mark.parametrize("version", kubernetes_versions())
@pytest.mark.parametrize("path", KUSTOMIZATIONS)
def test_every_built_object_passes_strict_schema_validation(path: str, version: str) -> None:
    errors = [error for item in build(path) for error in schema_errors(item, version)]
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize(
    ("kind", "break_it", "complaint"),
    [
        ("StatefulSet", lambda item: item["spec"].update(replica=3), "replica"),
        ("StatefulSet", lambda item: runner(item)["securityContext"].update(readOnlyRootFilesystem="yes"), "yes"),
        ("PodMonitor", lambda item: item["spec"].update(podMetricEndpoints=[]), "podMetricEndpoints"),
        ("PrometheusRule", lambda item: item["spec"]["groups"][0].update(interval=30), "30"),
        ("PrometheusRule", lambda item: item["metadata"].update(label={"a": "b"}), "label"),
    ],
    ids=["unknown-field", "wrong-type", "crd-unknown-field", "crd-wrong-type", "crd-metadata-unknown-field"],
)
def test_schema_validation_rejects_a_misspelt_or_mistyped_field(
    kind: str, break_it: Callable[[Object], object], complaint: str
) -> None:
    # The check above can fail: each validator refuses an object with one field wrong.
    path = "prometheus-operator" if kind in ("PodMonitor", "PrometheusRule") else "overlays/eu-west"
    item = copy.deepcopy(one(build(path), kind))
    break_it(item)
    errors = schema_errors(item, "latest")
    assert errors and complaint in "\n".join(errors), errors


@pytest.mark.parametrize("path", RUNNER_BUILDS)
def test_runners_run_as_the_image_user_unprivileged_on_a_read_only_root(path: str) -> None:
    objects = build(path)
    pod = one(objects, "StatefulSet")["spec"]["template"]["spec"]
    container = runner(one(objects, "StatefulSet"))
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == IMAGE_UID
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context.get("privileged", False) is False
    # The one writable place is an emptyDir at /tmp, and the cycle's temporary files go there.
    (mount,) = [mount for mount in container["volumeMounts"] if mount["mountPath"] == "/tmp"]
    (volume,) = [volume for volume in pod["volumes"] if volume["name"] == mount["name"]]
    assert "emptyDir" in volume
    assert env(container, "TMPDIR")["value"] == "/tmp"


@pytest.mark.parametrize("path", RUNNER_BUILDS)
def test_liveness_and_readiness_ask_healthz_on_the_served_port(path: str) -> None:
    container = runner(one(build(path), "StatefulSet"))
    (port,) = container["ports"]
    args = container["args"]
    assert args[args.index("--port") + 1] == str(port["containerPort"])
    assert args[args.index("--host") + 1] == "0.0.0.0"  # reachable by the kubelet and Prometheus
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": port["name"]}, probe


@pytest.mark.parametrize("path", RUNNER_BUILDS)
def test_runner_requests_what_it_was_measured_to_use_and_is_limited(path: str) -> None:
    resources = runner(one(build(path), "StatefulSet"))["resources"]
    assert _bytes(resources["requests"]["memory"]) >= MEASURED_PEAK_MIB * 2**20
    assert _bytes(resources["limits"]["memory"]) >= _bytes(resources["requests"]["memory"])
    assert _cores(resources["limits"]["cpu"]) >= _cores(resources["requests"]["cpu"]) > 0
    # A cycle with --workers 0 is one busy process: a limit under one core would throttle every cycle.
    assert _cores(resources["limits"]["cpu"]) >= 1


@pytest.mark.parametrize("path", RUNNER_BUILDS)
def test_api_token_comes_from_the_secret_through_the_environment(path: str) -> None:
    objects = build(path)
    container = runner(one(objects, "StatefulSet"))
    reference = env(container, "TARGET_API_TOKEN")["valueFrom"]["secretKeyRef"]
    secret = named(objects, "Secret", reference["name"])
    assert reference["key"] in secret["data"]
    # No credential sits in a plain value or in the settings ConfigMap.
    assert not [entry for entry in container["env"] if entry["name"].endswith("_TOKEN") and "value" in entry]
    settings = named(objects, "ConfigMap", container["envFrom"][0]["configMapRef"]["name"])
    assert not [name for name in settings["data"] if name.endswith(("_TOKEN", "_PASSWORD", "_SECRET", "_KEY"))]


def test_an_overlay_can_replace_the_credentials_with_its_own_file(tmp_path: Path) -> None:
    (tmp_path / "credentials.env").write_text("TARGET_API_TOKEN=s3cr3t-token\n")
    folder = overlay_on(
        tmp_path,
        DEPLOY_DIR / "overlays" / "eu-west",
        "secretGenerator:\n  - name: synthetic-monitor-credentials\n    behavior: replace\n"
        "    envs:\n      - credentials.env\n",
    )
    objects = build_dir(folder)
    reference = env(runner(one(objects, "StatefulSet")), "TARGET_API_TOKEN")["valueFrom"]["secretKeyRef"]
    secret = named(objects, "Secret", reference["name"])
    assert base64.b64decode(secret["data"][reference["key"]]) == b"s3cr3t-token"


@pytest.mark.parametrize("location", OVERLAYS)
def test_each_overlay_labels_its_series_with_its_location_under_its_own_names(location: str) -> None:
    objects = build(f"overlays/{location}")
    statefulset = one(objects, "StatefulSet")
    container = runner(statefulset)
    settings = named(objects, "ConfigMap", container["envFrom"][0]["configMapRef"]["name"])
    assert settings["data"]["SYNTHETIC_LOCATION"] == location
    assert all(f"-{location}" in item["metadata"]["name"] for item in objects)
    assert statefulset["metadata"]["name"] == f"synthetic-monitor-{location}"
    service = one(objects, "Service")
    assert statefulset["spec"]["serviceName"] == service["metadata"]["name"]
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"] == statefulset["spec"]["selector"]["matchLabels"]


def test_two_locations_in_one_namespace_never_select_each_others_pods() -> None:
    for location in OVERLAYS:
        selector = one(build(f"overlays/{location}"), "StatefulSet")["spec"]["selector"]["matchLabels"]
        for other in OVERLAYS:
            labels = one(build(f"overlays/{other}"), "StatefulSet")["spec"]["template"]["metadata"]["labels"]
            assert (selector.items() <= labels.items()) == (other == location), (location, other)


def test_an_overlay_can_point_the_image_at_its_registry(tmp_path: Path) -> None:
    for path in RUNNER_BUILDS:
        assert runner(one(build(path), "StatefulSet"))["image"] == "localhost/synthetic-monitor:dev"
    changed = build_dir(
        overlay_on(
            tmp_path,
            DEPLOY_DIR / "overlays" / "eu-west",
            "images:\n  - name: localhost/synthetic-monitor\n    newName: registry.example/monitor\n    newTag: v1\n",
        )
    )
    assert runner(one(changed, "StatefulSet"))["image"] == "registry.example/monitor:v1"


def test_journeys_component_mounts_a_configmap_over_the_built_in_journeys(tmp_path: Path) -> None:
    (tmp_path / "journeys").mkdir()
    (tmp_path / "journeys" / "test_checkout.py").write_text("def test_guest_can_check_out():\n    pass\n")
    component = relative(tmp_path, DEPLOY_DIR / "components" / "journeys-configmap")
    folder = overlay_on(
        tmp_path,
        DEPLOY_DIR / "overlays" / "eu-west",
        f"components:\n  - {component}\n"
        "configMapGenerator:\n  - name: synthetic-monitor-journeys\n    files:\n      - journeys/test_checkout.py\n",
    )
    objects = build_dir(folder)
    statefulset = one(objects, "StatefulSet")
    (mount,) = [mount for mount in runner(statefulset)["volumeMounts"] if mount["mountPath"] == "/app/journeys"]
    assert mount["readOnly"] is True
    volumes = statefulset["spec"]["template"]["spec"]["volumes"]
    (volume,) = [volume for volume in volumes if volume["name"] == mount["name"]]
    journeys = named(objects, "ConfigMap", volume["configMap"]["name"])  # the generated, hash-suffixed name
    assert "test_guest_can_check_out" in journeys["data"]["test_checkout.py"]
    errors = [error for item in objects for error in schema_errors(item, "latest")]
    assert not errors, "\n".join(errors)


def test_journeys_mounted_the_way_a_configmap_is_run_once_each(tmp_path: Path) -> None:
    # The kubelet writes a ConfigMap's files into a hidden timestamped folder, links ..data to it and each
    # key to ..data/<key>. The runner must collect each journey once, not once more through the hidden folder.
    journeys = tmp_path / "journeys"
    hidden = journeys / "..2026_11_25_00_00_00.000000001"
    hidden.mkdir(parents=True)
    (hidden / "test_home.py").write_text("def test_guest_sees_the_home_page():\n    pass\n")
    (journeys / "..data").symlink_to(hidden.name)
    (journeys / "test_home.py").symlink_to("..data/test_home.py")
    result = subprocess.run(
        [sys.executable, "-m", "runner", "--once", "--journeys", str(journeys)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed, 0 failed" in result.stdout, result.stdout


def test_readme_says_it_was_never_run_on_a_cluster() -> None:
    readme = (DEPLOY_DIR / "README.md").read_text()
    assert "never been applied to a cluster" in readme
    for path in KUSTOMIZATIONS:
        if path != ".":
            assert f"deploy/kubernetes/{path}" in readme, f"README.md does not mention {path}"


def _bytes(quantity: str) -> int:
    for suffix, factor in UNITS.items():
        if quantity.endswith(suffix):
            return int(quantity.removesuffix(suffix)) * factor
    return int(quantity)


def _cores(quantity: str) -> float:
    return int(quantity.removesuffix("m")) / 1000 if quantity.endswith("m") else float(quantity)
