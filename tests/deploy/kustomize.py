"""Build deploy/kubernetes with ``kubectl kustomize`` and read the built objects."""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.processes import REPO_ROOT, require_binary

DEPLOY_DIR = REPO_ROOT / "deploy" / "kubernetes"
OVERLAYS = ("eu-west", "us-east")
# Every kustomization a user may build: the unlabelled default, the base, each location, the operator's objects.
KUSTOMIZATIONS = (".", "base", *(f"overlays/{name}" for name in OVERLAYS), "prometheus-operator")
RUNNER_BUILDS = tuple(path for path in KUSTOMIZATIONS if path != "prometheus-operator")

Object = dict[str, Any]


def build_dir(folder: Path) -> list[Object]:
    """The objects ``kubectl kustomize folder`` prints; the test fails with kustomize's error if it cannot build."""
    kubectl = require_binary("kubectl", "kubectl")
    result = subprocess.run([kubectl, "kustomize", str(folder)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"kubectl kustomize {folder} failed:\n{result.stderr}"
    return [item for item in yaml.safe_load_all(result.stdout) if item]


@functools.cache
def build(path: str) -> tuple[Object, ...]:
    """The built objects of ``deploy/kubernetes/<path>`` (built once per test session)."""
    return tuple(build_dir(DEPLOY_DIR / path))


def overlay_on(tmp_path: Path, base: Path, text: str) -> Path:
    """A kustomization in ``tmp_path`` whose first resource is ``base`` (relative: kustomize refuses absolute)."""
    relative = os.path.relpath(base, tmp_path)
    (tmp_path / "kustomization.yaml").write_text(f"resources:\n  - {relative}\n{text}")
    return tmp_path


def relative(tmp_path: Path, path: Path) -> str:
    """``path`` relative to ``tmp_path``, as kustomize wants references outside a kustomization's folder."""
    return os.path.relpath(path, tmp_path)


def one(objects: tuple[Object, ...] | list[Object], kind: str) -> Object:
    """The single object of ``kind``."""
    found = [item for item in objects if item["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {[item['metadata']['name'] for item in found]}"
    return found[0]


def named(objects: tuple[Object, ...] | list[Object], kind: str, name: str) -> Object:
    """The object of ``kind`` called ``name``."""
    found = [item for item in objects if item["kind"] == kind and item["metadata"]["name"] == name]
    assert found, f"no {kind} named {name!r} in the build"
    return found[0]


def runner(statefulset: Object) -> Object:
    """The runner container of a StatefulSet's pod template."""
    containers: list[Object] = statefulset["spec"]["template"]["spec"]["containers"]
    return next(container for container in containers if container["name"] == "runner")


def env(container: Object, name: str) -> Object:
    """The env entry ``name`` of ``container``."""
    found: list[Object] = [entry for entry in container.get("env", []) if entry["name"] == name]
    assert len(found) == 1, f"expected env {name} once in container {container['name']}, found {len(found)}"
    return found[0]
