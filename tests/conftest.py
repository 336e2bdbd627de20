"""Fixtures shared by the project's tests: real processes, always stopped."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.processes import RunningProcess, start_target

StartTarget = Callable[..., str]


@pytest.fixture
def target_factory(tmp_path: Path) -> Iterator[StartTarget]:
    """Start real Reservations Services (``python -m target_service``); returns their base URLs."""
    started: list[RunningProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> str:
        process, url = start_target(tmp_path, *args, env=env, name=f"target-{len(started)}")
        started.append(process)
        return url

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def target(target_factory: StartTarget) -> str:
    """A real Reservations Service without injected faults; its base URL."""
    return target_factory("--faults", "none")
