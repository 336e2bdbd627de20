"""Run one cycle of the suite in a fresh child process and bring back its JSON report.

A forkserver started once imports pytest and its plugins; every cycle is a fork of it (cheap, and isolated:
the journeys are imported anew in each child). The child runs in its own session, so stopping a cycle kills
it and all its workers at once.

Usage::

    executor = Executor(settings)
    executor.start()
    execution = executor.run(collect_only=False)
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import signal
import tempfile
import threading
import time
from dataclasses import dataclass
from multiprocessing import forkserver
from pathlib import Path
from typing import Any

from runner.child import CycleRequest, run_cycle
from runner.config import Settings
from runner.workers import HEARTBEAT_SECONDS, KILL_GRACE_SECONDS

OUTPUT_TAIL_LINES = 20
JOIN_POLL_SECONDS = 0.05
PYTEST_USAGE_ERROR = 4


@dataclass(frozen=True, slots=True)
class Execution:
    """What came back from one run of the suite."""

    report: dict[str, Any] | None
    exit_code: int | None
    output_tail: str
    stopped: bool = False
    stalled: bool = False

    @property
    def usage_error(self) -> bool:
        """pytest rejected its command line (e.g. a bad argument after --)."""
        return self.exit_code == PYTEST_USAGE_ERROR

    @property
    def error_line(self) -> str:
        """The line where pytest said what was wrong: its last ``error:`` line, else its last line."""
        lines = [line.strip() for line in self.output_tail.splitlines() if line.strip()]
        errors = [line for line in lines if "error:" in line.lower()]
        return (errors or lines or ["(no output)"])[-1]


class Executor:
    """Starts cycle processes from a forkserver that has pytest already imported."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(["runner.preload"])
        self._stop = threading.Event()

    def start(self) -> None:
        """Start the forkserver now (it is a single-threaded process, so forking from it is safe)."""
        forkserver.ensure_running()

    def stop(self) -> None:
        """Make a running cycle end at once, killing its process group."""
        self._stop.set()

    def close(self) -> None:
        """Stop the forkserver and reap it, so no process outlives the runner."""
        server = getattr(forkserver, "_forkserver", None)
        stop_server = getattr(server, "_stop", None)  # CPython's own (private) way to end its forkserver
        if callable(stop_server):
            with contextlib.suppress(OSError):
                stop_server()

    def run(self, collect_only: bool = False) -> Execution:
        """Run (or only collect) the suite once; never raises for what the journeys do."""
        with tempfile.TemporaryDirectory(prefix="synthetic-cycle-") as workdir:
            request = self._request(Path(workdir), collect_only)
            Path(request.heartbeat_path).touch()
            process = self._context.Process(target=run_cycle, args=(request,), name="synthetic-cycle")
            process.start()
            stopped, stalled = self._wait(process, Path(request.heartbeat_path))
            return Execution(
                report=_load_json(Path(request.report_path)),
                exit_code=process.exitcode,
                output_tail=_tail(Path(request.output_path)),
                stopped=stopped,
                stalled=stalled,
            )

    def _request(self, workdir: Path, collect_only: bool) -> CycleRequest:
        settings = self._settings
        return CycleRequest(
            journeys=str(settings.journeys),
            report_path=str(workdir / "report.json"),
            output_path=str(workdir / "pytest-output.log"),
            heartbeat_path=str(workdir / "heartbeat"),
            workers=settings.workers,
            timeout_seconds=settings.timeout_seconds,
            pytest_args=settings.pytest_args,
            collect_only=collect_only,
        )

    def _wait(self, process: multiprocessing.process.BaseProcess, heartbeat: Path) -> tuple[bool, bool]:
        """Wait for the child; kill its group on stop or when its heartbeat goes quiet. Returns (stopped, stalled)."""
        # Collection and each journey are bounded by the timeout; silence beyond that means a hang we
        # cannot see from inside (an import that blocks, a stuck plugin).
        quiet_limit = self._settings.timeout_seconds + 2 * KILL_GRACE_SECONDS + HEARTBEAT_SECONDS
        while True:
            process.join(JOIN_POLL_SECONDS)
            if process.exitcode is not None:
                return False, False
            if self._stop.is_set():
                _kill_group(process)
                return True, False
            if time.time() - heartbeat.stat().st_mtime > quiet_limit:
                _kill_group(process)
                return False, True


def _kill_group(process: multiprocessing.process.BaseProcess) -> None:
    pid = process.pid
    assert pid is not None
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()  # not yet in its own session
    process.join(5)


def _load_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _tail(path: Path) -> str:
    try:
        with path.open("rb") as output:
            output.seek(max(0, path.stat().st_size - 16_384))
            lines = output.read().decode(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-OUTPUT_TAIL_LINES:])
