"""Helpers for tests that drive real processes (the process handling itself lives in scripts/stack.py)."""

from __future__ import annotations

import importlib
import os
import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from scripts.stack import (
    REPO_ROOT,
    RunningProcess,
    free_port,
    start,
    start_runner,
    start_target,
    wait_for,
)

__all__ = [
    "REPO_ROOT",
    "RunningProcess",
    "free_port",
    "journeys",
    "metric",
    "require_binary",
    "require_module",
    "scrape",
    "set_faults",
    "start",
    "start_runner",
    "start_target",
    "wait_for",
]

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def journeys(tmp_path: Path, files: dict[str, str]) -> Path:
    """A folder ``tmp_path/journeys`` holding ``files`` ({name: source}, dedented)."""
    folder = tmp_path / "journeys"
    folder.mkdir(exist_ok=True)
    for name, source in files.items():
        (folder / name).write_text(textwrap.dedent(source))
    return folder


def set_faults(base_url: str, body: dict[str, object], token: str | None = None) -> None:
    """PUT /admin/faults on a running Reservations Service."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = requests.put(f"{base_url}/admin/faults", json=body, headers=headers, timeout=5)
    response.raise_for_status()


def scrape(base_url: str) -> Samples:
    """The runner's /metrics as {(sample name, labels): value}."""
    text = requests.get(f"{base_url}/metrics", timeout=5).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def metric(samples: Samples, name: str, **labels: str) -> float | None:
    """One sample's value, or None when the series does not exist."""
    return samples.get((name, frozenset(labels.items())))


def require_module(name: str, package: str) -> Any:
    """The imported module ``name``; in CI a missing one fails the test, elsewhere it skips it."""
    try:
        return importlib.import_module(name)
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail(f"{name} cannot be imported in CI; install {package}")
        pytest.skip(f"{name} not installed ({package})")


def require_binary(name: str, package: str) -> str:
    """The path of ``name``; in CI a missing binary fails the test, elsewhere it skips it."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is missing in CI; .ci/run installs the Debian package {package}")
        pytest.skip(f"{name} not installed (Debian package {package})")
    return path
