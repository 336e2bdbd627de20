"""The cycle's child process: run pytest on the journeys with the worker pool and write the JSON report.

The runner's forkserver imports this module (and with it pytest and its plugins) once; each cycle is a fresh
fork that imports the journeys anew, so an edited journey is picked up on the next cycle.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_jsonreport.plugin  # noqa: F401  (preloaded in the forkserver)
import pytest_timeout  # noqa: F401  (preloaded in the forkserver)
import requests  # noqa: F401  (preloaded: nearly every journey imports it)

from runner.workers import WorkerPool

# What the report keeps: results and collectors; captured output and tracebacks stay out of it.
CYCLE_NICENESS = 5
PR_SET_CHILD_SUBREAPER = 36
REPORT_OMIT = ("streams", "log", "traceback", "keywords", "warnings")


@dataclass(frozen=True, slots=True)
class CycleRequest:
    """Everything the child needs to run one cycle."""

    journeys: str
    report_path: str
    output_path: str
    heartbeat_path: str
    workers: int
    timeout_seconds: float
    pytest_args: tuple[str, ...] = ()
    collect_only: bool = False
    temp_dir: str = ""
    max_journeys: int | None = None


def pytest_arguments(request: CycleRequest) -> list[str]:
    """The pytest command line for one cycle; the user's arguments come last so they can override."""
    args = [
        request.journeys,
        "-p",
        "no:cacheprovider",
        "-p",
        "no:xdist",
        "--json-report",
        f"--json-report-file={request.report_path}",
        "--json-report-omit",
        *REPORT_OMIT,
        "--continue-on-collection-errors",
        f"--timeout={request.timeout_seconds:g}",
        "--timeout-method=signal",
        # tmp_path and friends live in the cycle's folder, which the runner removes after the cycle.
        f"--basetemp={Path(request.temp_dir) / 'pytest'}",
        "-q",
        "-rN",
    ]
    if request.collect_only:
        args.append("--collect-only")
    return [*args, *request.pytest_args]


def run_cycle(request: CycleRequest) -> None:
    """Entry point in the forked child: own session, output to a file, pytest, exit with its code."""
    os.setsid()  # the runner ends the whole cycle (workers included) with one killpg
    # Cycles are background work: when the CPU is contended, /metrics and / answer first. With nothing
    # else running (the usual case) a niced process runs exactly as fast.
    os.nice(CYCLE_NICENESS)
    _become_subreaper()
    # Files a journey leaves in the temporary folder go with the cycle's folder.
    os.environ["TMPDIR"] = tempfile.tempdir = request.temp_dir
    output = os.open(request.output_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.close(output)
    pool = WorkerPool(request.workers, request.timeout_seconds, Path(request.heartbeat_path), request.max_journeys)
    try:
        code = int(pytest.main(pytest_arguments(request), plugins=[pool]))
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        kill_orphans()
    os._exit(code)


def _become_subreaper() -> None:
    """Processes a journey leaves behind (even daemonized ones) become this process's children when orphaned."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def kill_orphans() -> None:
    """Kill and reap every remaining child: processes journeys started and left running."""
    while children := _children(os.getpid()):
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name (field 2) may hold spaces and parentheses: the ppid is the 2nd field after the last ")".
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
            found.append(int(entry.name))
    return found
