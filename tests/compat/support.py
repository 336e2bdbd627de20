"""Run a project's tests with plain pytest and with the runner, and compare each test's outcome.

Plain pytest runs with a passive observer plugin (written next to the project, loaded with ``-p``) that
records, for every test, the outcome by pytest's own categories: ``success`` (passed, xpassed), ``failure``
(failed, error in any phase) or ``none`` (skipped, xfailed). The runner runs ``--once`` from the same folder
and its outcomes are read back from the metrics it writes: one ``synthetic_request_duration`` observation per
test, or none. Deselected tests appear in neither.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

RUN_TIMEOUT_SECONDS = 600
DOWNLOAD_TIMEOUT_SECONDS = 300
ORACLE = """
import json, os

_config = None
_outcomes = {}


def pytest_configure(config):
    global _config
    _config = config


def pytest_runtest_logreport(report):
    category = _config.hook.pytest_report_teststatus(report=report, config=_config)[0]
    seen = _outcomes.setdefault(report.nodeid, "none")
    if category in ("failed", "error"):
        _outcomes[report.nodeid] = "failure"
    elif category in ("passed", "xpassed") and report.when == "call" and seen != "failure":
        _outcomes[report.nodeid] = "success"


def pytest_sessionfinish(session):
    with open(os.environ["SYNTHETIC_ORACLE_OUT"], "w") as out:
        json.dump(_outcomes, out)
"""


@dataclass(frozen=True)
class Run:
    """One run's outcomes by test id, and what the process printed."""

    outcomes: dict[str, str]
    returncode: int
    output: str


def plain_pytest(project: Path, work: Path, args: tuple[str, ...] = (), env: dict[str, str] | None = None) -> Run:
    """``python -m pytest`` in ``project`` with the observer plugin."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "synthetic_oracle.py").write_text(ORACLE)
    out = work / "oracle.json"
    environment = _environment(env, extra_path=str(work))
    environment["SYNTHETIC_ORACLE_OUT"] = str(out)
    done = _run([sys.executable, "-m", "pytest", "-p", "synthetic_oracle", *args], project, environment)
    outcomes = json.loads(out.read_text()) if out.exists() else {}
    return Run(outcomes, done.returncode, done.stdout)


def runner_once(
    project: Path, work: Path, workers: int, args: tuple[str, ...] = (), env: dict[str, str] | None = None
) -> Run:
    """``python -m runner --once --journeys .`` in ``project``; outcomes from its metrics file."""
    work.mkdir(parents=True, exist_ok=True)
    metrics = work / f"runner-{workers}.prom"
    metrics.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "runner", "--once", "--journeys", ".", "--workers", str(workers)]
    argv += ["--max-journeys", "1000000", "--metrics-file", str(metrics), "--timeout", "60"]
    done = _run([*argv, "--", *args] if args else argv, project, _environment(env))
    outcomes = observed(metrics.read_text()) if metrics.exists() else {}
    return Run(outcomes, done.returncode, done.stdout)


def observed(exposition: str) -> dict[str, str]:
    """Each journey's outcome from the runner's metrics: the result it was observed with, if any."""
    outcomes: dict[str, str] = {}
    for family in text_string_to_metric_families(exposition):
        if family.name != "synthetic_request_duration":
            continue
        for sample in family.samples:
            if sample.name.endswith("_count") and sample.value:
                outcomes[sample.labels["journey"]] = sample.labels["result"]
    return outcomes


def differences(plain: dict[str, str], ours: dict[str, str]) -> dict[str, tuple[str, str]]:
    """Tests whose outcome differs: {id: (plain pytest's, the runner's)}; ``none`` gives no observation."""
    observed_plain = {test: outcome for test, outcome in plain.items() if outcome != "none"}
    return {
        test: (observed_plain.get(test, "none"), ours.get(test, "none"))
        for test in sorted(set(observed_plain) | set(ours))
        if observed_plain.get(test, "none") != ours.get(test, "none")
    }


def pip(*args: str) -> subprocess.CompletedProcess[str]:
    """This interpreter's pip."""
    return subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=DOWNLOAD_TIMEOUT_SECONDS,
    )


def require_index(done: subprocess.CompletedProcess[str], what: str) -> None:
    """Skip when the package index could not be used (fail in CI, where it must be)."""
    if done.returncode != 0:
        message = f"cannot fetch {what} from the package index: {done.stderr.strip()[-500:]}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def install_beside(requirements: tuple[str, ...], folder: Path) -> str:
    """Install pinned packages into ``folder`` (not into the environment); return it for PYTHONPATH."""
    if not (folder / ".done").exists():
        require_index(pip("install", "--no-deps", "--target", str(folder), *requirements), " ".join(requirements))
        (folder / ".done").touch()
    return str(folder)


def _environment(env: dict[str, str] | None, extra_path: str = "") -> dict[str, str]:
    environment = {**os.environ, **(env or {})}
    paths = [extra_path, environment.get("PYTHONPATH", "")]
    environment["PYTHONPATH"] = os.pathsep.join(path for path in paths if path)
    for name in ("PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER", "PYTEST_XDIST_TESTRUNUID", "PYTEST_CURRENT_TEST"):
        environment.pop(name, None)  # this test suite's own pytest-xdist run must not leak into the runs
    return environment


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
    )
