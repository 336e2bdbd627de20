"""Run one cycle of the suite in a fresh child process and bring back its report.

A forkserver started once imports pytest and its plugins; every cycle is a fork of it (cheap, and isolated:
the journeys are imported anew in each child). The child runs in its own session, so stopping a cycle kills
every process of that session at once: the child, its workers (each in a process group of its own) and what
the journeys started.

Usage::

    executor = Executor(settings)
    executor.start()
    execution = executor.run(collect_only=False)
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.util
import os
import signal
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from multiprocessing import forkserver, resource_tracker
from pathlib import Path

from runner.config import Settings
from runner.handoff import (
    HEARTBEAT_SECONDS,
    KILL_GRACE_SECONDS,
    REFUSAL_PREFIX,
    CycleRequest,
    describe_signal,
    read_report,
    start_cycle,
)
from runner.procs import SESSION, STATE, stat_fields
from runner.report import CycleReport

OUTPUT_TAIL_LINES = 20
JOIN_POLL_SECONDS = 0.05
PYTEST_USAGE_ERROR = 4
MAX_SOCKET_FOLDER_CHARS = 60  # + "/pymp-xxxxxxxx/listener-xxxxxxxx" stays under AF_UNIX's 108 bytes
# mkdtemp makes a private (0700) folder with a random name there, so shared folders are safe.
SHORT_TEMP_FOLDERS = ("/tmp", "/dev/shm", "/var/tmp")  # noqa: S108
CONFTEST_FAILURE = "ImportError while loading conftest"
KILL_PASSES = 3


@dataclass(frozen=True, slots=True)
class Execution:
    """What came back from one run of the suite."""

    report: CycleReport | None
    exit_code: int | None
    output_tail: str
    stopped: bool = False
    stalled: bool = False
    problem: str = ""  # why there is no report, in one line

    @property
    def broken_conftest(self) -> bool:
        """A conftest.py failed to import (pytest reports this with its usage-error code)."""
        return self.exit_code == PYTEST_USAGE_ERROR and CONFTEST_FAILURE in self.output_tail

    @property
    def usage_error(self) -> bool:
        """pytest rejected its command line (e.g. a bad argument after --)."""
        return self.exit_code == PYTEST_USAGE_ERROR and not self.broken_conftest

    @property
    def error_line(self) -> str:
        """The line where pytest said what was wrong: its last ``error:`` line, else its last line."""
        lines = [line.strip() for line in self.output_tail.splitlines() if line.strip()]
        errors = [line for line in lines if "error:" in line.lower()]
        return (errors or lines or ["(no output)"])[-1].removeprefix("ERROR: ")

    @property
    def usage_message(self) -> str:
        """What to tell the user about a usage error, in one line."""
        line = self.error_line
        return line if line.startswith(REFUSAL_PREFIX) else f"pytest rejected its arguments: {line}"


class Executor:
    """Starts cycle processes from a forkserver that has pytest already imported."""

    def __init__(self, settings: Settings, artifacts_dir: Path | None = None) -> None:
        self._settings = settings
        self._artifacts_dir = artifacts_dir
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(["runner.preload"])
        self._stop = threading.Event()

    def start(self) -> None:
        """Start the forkserver now (it is a single-threaded process, so forking from it is safe)."""
        _short_socket_folder()
        forkserver.ensure_running()

    def stop(self) -> None:
        """Make a running cycle end at once, killing its process group."""
        self._stop.set()

    def close(self) -> None:
        """Stop the forkserver and multiprocessing's resource tracker and reap them: nothing outlives the runner."""
        for helper in (getattr(forkserver, "_forkserver", None), getattr(resource_tracker, "_resource_tracker", None)):
            stop = getattr(helper, "_stop", None)  # CPython's own (private) way to end these helper processes
            if callable(stop):
                with contextlib.suppress(OSError, ChildProcessError):
                    stop()

    def run(self, collect_only: bool = False) -> Execution:
        """Run (or only collect) the suite once; never raises for what the journeys or the disk do."""
        try:
            folder = tempfile.TemporaryDirectory(prefix="synthetic-cycle-", ignore_cleanup_errors=True)
        except OSError as exc:
            problem = f"cannot create the cycle's folder in {tempfile.gettempdir()}: {exc.strerror or exc}"
            return Execution(report=None, exit_code=None, output_tail="", problem=problem)
        with folder as workdir:
            request = self._request(Path(workdir), collect_only)
            try:
                Path(request.heartbeat_path).touch()
                (Path(workdir) / "tmp").mkdir()
            except OSError as exc:
                return Execution(None, None, "", problem=f"cannot write in {workdir}: {exc.strerror or exc}")
            process = self._context.Process(target=start_cycle, args=(request,), name="synthetic-cycle")
            process.start()
            stopped, stalled = self._wait(process, Path(request.heartbeat_path))
            _kill_group(process)  # anything a journey started and left in the cycle's process group
            execution = Execution(
                report=read_report(Path(request.report_path)),
                exit_code=process.exitcode,
                output_tail=_tail(Path(request.output_path)),
                stopped=stopped,
                stalled=stalled,
            )
            if execution.report is None:
                execution = replace(execution, problem=self._explain(execution, Path(workdir)))
            return execution

    def _explain(self, execution: Execution, workdir: Path) -> str:
        """Why a cycle ended without a report, in one line."""
        if execution.stalled:
            return (
                f"no sign of life for more than {self._quiet_limit():g} s (a hang while importing or collecting "
                "journeys); the cycle was killed"
            )
        if execution.broken_conftest:
            return f"a conftest.py failed to load: {execution.error_line}"
        if execution.exit_code is not None and execution.exit_code < 0:
            return f"the cycle's process was killed by {describe_signal(-execution.exit_code)}"
        with contextlib.suppress(OSError):
            if os.statvfs(workdir).f_bavail == 0:
                return f"no space left on the device of {workdir.parent}"
        return f"pytest exited with code {execution.exit_code} without a report: {execution.error_line}"

    def _quiet_limit(self) -> float:
        return self._settings.timeout_seconds + 2 * KILL_GRACE_SECONDS + HEARTBEAT_SECONDS

    def _request(self, workdir: Path, collect_only: bool) -> CycleRequest:
        settings = self._settings
        return CycleRequest(
            journeys=str(settings.journeys),
            report_path=str(workdir / "report.pickle"),
            output_path=str(workdir / "pytest-output.log"),
            heartbeat_path=str(workdir / "heartbeat"),
            workers=settings.workers,
            timeout_seconds=settings.timeout_seconds,
            pytest_args=settings.pytest_args,
            collect_only=collect_only,
            temp_dir=str(workdir / "tmp"),
            max_journeys=settings.max_journeys,
            retries=settings.retries,
            shard=settings.shard,
            artifacts_dir=str(self._artifacts_dir or ""),
        )

    def _wait(self, process: multiprocessing.process.BaseProcess, heartbeat: Path) -> tuple[bool, bool]:
        """Wait for the child; kill its group on stop or when its heartbeat goes quiet. Returns (stopped, stalled)."""
        # Collection and each journey are bounded by the timeout; silence beyond that means a hang we
        # cannot see from inside (an import that blocks, a stuck plugin).
        quiet_limit = self._quiet_limit()
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


def _short_socket_folder() -> None:
    """Keep the forkserver's socket path within AF_UNIX's 108 bytes whatever TMPDIR is.

    multiprocessing puts the socket in a folder it makes in the temporary folder; with a long TMPDIR the path
    is too long to bind. Then that folder goes to the first short writable place instead; the cycles' own
    folders stay in TMPDIR.
    """
    if len(tempfile.gettempdir()) <= MAX_SOCKET_FOLDER_CHARS:
        return
    for candidate in SHORT_TEMP_FOLDERS:
        if os.access(candidate, os.W_OK | os.X_OK):
            previous, tempfile.tempdir = tempfile.tempdir, candidate
            try:
                multiprocessing.util.get_temp_dir()  # made once, remembered for the process
            finally:
                tempfile.tempdir = previous
            return


def _kill_group(process: multiprocessing.process.BaseProcess) -> None:
    """Kill every process of the cycle's session: the child, its workers and what journeys started."""
    pid = process.pid
    assert pid is not None
    if process.exitcode is None and pid not in _session_members(pid):
        process.kill()  # not yet in its own session
    for _ in range(KILL_PASSES):  # a process forked while the first pass ran is found by the next
        members = _session_members(pid)
        for member in members:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(member, signal.SIGKILL)
        if not members:
            break
    process.join(5)


def _session_members(sid: int) -> list[int]:
    """The live processes whose session is ``sid``; zombies are already dead."""
    return [pid for pid, fields in stat_fields() if int(fields[SESSION]) == sid and fields[STATE] != "Z"]


def _tail(path: Path) -> str:
    try:
        with path.open("rb") as output:
            output.seek(max(0, path.stat().st_size - 16_384))
            lines = output.read().decode(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-OUTPUT_TAIL_LINES:])
