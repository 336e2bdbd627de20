"""Run one cycle of the suite in a fresh child process and bring back its report.

A forkserver started once imports pytest and its plugins; every cycle is a fork of it (cheap, and isolated:
the journeys are imported anew in each child). The child runs in its own session, so stopping a cycle kills
every process of that session at once: the child, its workers (each in a process group of its own) and what
the journeys started.

Usage::

    executor = Executor(settings)
    executor.start()
    execution = executor.execute(collect_only=False)
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

from runner.cycle.entry import start_cycle
from runner.handoff import (
    HEARTBEAT_SECONDS,
    KILL_GRACE_SECONDS,
    REFUSAL_PREFIX,
    CycleRequest,
    describe_signal,
    read_report,
    read_running,
)
from runner.handoff.observations import KnownChain
from runner.handoff.procs import PPID, kill_family, stat_fields, state_of
from runner.handoff.results import CycleReport
from runner.settings.command_line import Settings
from runner.settings.maintenance import Selector
from runner.supervisor import forking
from runner.supervisor.scratch import Scratch, clear_abandoned

OUTPUT_TAIL_LINES = 20
JOIN_POLL_SECONDS = 0.05
PYTEST_USAGE_ERROR = 4
CONFTEST_FAILURE = "ImportError while loading conftest"
REAP_SECONDS = 5.0
ENDED_STATES = frozenset({"Z", ""})  # a zombie, or gone
UNREPORTED_END_SECONDS = 1.0


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


BYTECODE_FOLDER = "bytecode"  # in the runner's own folder: see runner.cycle.child.keep_bytecode


class Executor:
    """Starts cycle processes from a forkserver that has pytest already imported."""

    def __init__(self, settings: Settings, artifacts_dir: Path | None = None) -> None:
        self._settings = settings
        self.artifacts_dir = artifacts_dir  # where browser journeys' screenshots go
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(["runner.cycle.preload"])
        self._stop = threading.Event()
        self._scratches: list[Scratch] = []  # this runner's own temporary folders (see runner.supervisor.scratch)
        self.cleared: list[str] = []  # folders of earlier runners that start() removed
        self.reaping = False  # the runner is a subreaper: a killed cycle's orphans come to it, to be reaped

    def start(self) -> None:
        """Clear what runners killed earlier left in the temporary folder, then start the forkserver now (it is a
        single-threaded process, so forking from it is safe), its socket in this runner's own folder."""
        for folder in clear_abandoned(Path(tempfile.gettempdir())):
            self.cleared.append(str(folder))
        short = forking.start(self._scratch().root)
        if short is not None:
            self._scratches.append(short)

    def stop(self) -> None:
        """Make a running cycle end at once, killing its process group."""
        self._stop.set()

    def close(self) -> None:
        """End the forkserver and the resource tracker (killed if they do not end in a few seconds), then remove
        this runner's folders: nothing outlives the runner."""
        forking.stop_helpers()
        self.reap_orphans()
        for scratch in self._scratches:
            scratch.close()

    def reap_orphans(self) -> None:
        """Kill and reap the runner's children that are not multiprocessing's helpers: with the runner a
        subreaper (``procs.become_subreaper``), these are what a killed cycle's journeys left, daemons included."""
        me, helpers = os.getpid(), forking.helper_pids()
        table = list(stat_fields())
        strays = [pid for pid, fields in table if int(fields[PPID]) == me and pid not in helpers]
        if not strays:
            return
        kill_family(*strays)
        for pid in strays:
            _reap(pid)

    @property
    def folder(self) -> Path:
        """This runner's own temporary folder (``runner.supervisor.scratch``), removed when it stops."""
        return self._scratch().root

    def _scratch(self) -> Scratch:
        if not self._scratches:
            self._scratches.append(Scratch.make())
        return self._scratches[0]

    def execute(
        self,
        collect_only: bool = False,
        tick: int | None = None,
        paused: tuple[Selector | None, ...] = (),
        chains: tuple[KnownChain, ...] = (),
    ) -> Execution:
        """Run (or only collect) the suite once; never raises for what the journeys or the disk do.

        ``tick`` numbers the cycle (``runner.handoff.frequency``): journeys with an interval of their own run only
        when due in it. None runs every journey (``--once``). ``paused``: the journeys of the pause maintenance
        windows in force, not run. ``chains``: the TLS chains the last cycles decoded.
        """
        try:
            folder = tempfile.TemporaryDirectory(prefix="cycle-", dir=self._scratch().root, ignore_cleanup_errors=True)
        except OSError as exc:
            problem = f"cannot create the cycle's folder in {tempfile.gettempdir()}: {exc.strerror or exc}"
            return Execution(report=None, exit_code=None, output_tail="", problem=problem)
        with folder as workdir:
            request = self._request(Path(workdir), collect_only, tick, paused, chains)
            try:
                Path(request.heartbeat_path).touch()
                (Path(workdir) / "tmp").mkdir()
            except OSError as exc:
                return Execution(None, None, "", problem=f"cannot write in {workdir}: {exc.strerror or exc}")
            process = self._context.Process(target=start_cycle, args=(request,), name="synthetic-cycle")
            problem = forking.start_process(process)
            if problem:
                return Execution(None, None, "", problem=problem)
            stopped, stalled = self._wait(process, Path(request.heartbeat_path))
            running = read_running(Path(request.board_path)) if stalled else ()
            _kill_cycle(process)  # anything a journey started and left behind, daemons included
            if self.reaping:
                self.reap_orphans()
            execution = Execution(
                report=read_report(Path(request.report_path)),
                exit_code=process.exitcode,
                output_tail=_tail(Path(request.output_path)),
                stopped=stopped,
                stalled=stalled,
            )
            if execution.report is None:
                execution = replace(execution, problem=self._explain(execution, Path(workdir), running))
            return execution

    def _explain(self, execution: Execution, workdir: Path, running: tuple[str, ...] = ()) -> str:
        """Why a cycle ended without a report, in one line."""
        if execution.stalled and running:
            return (
                f"the cycle's process gave no sign of life for more than {self._quiet_limit():g} s while "
                f"{', '.join(running)} ran (stopped or hung, by that journey?); the cycle was killed"
            )
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

    def _request(
        self,
        workdir: Path,
        collect_only: bool,
        tick: int | None,
        paused: tuple[Selector | None, ...],
        chains: tuple[KnownChain, ...],
    ) -> CycleRequest:
        settings = self._settings
        return CycleRequest(
            journeys=str(settings.journeys),
            report_path=str(workdir / "report.pickle"),
            output_path=str(workdir / "pytest-output.log"),
            heartbeat_path=str(workdir / "heartbeat"),
            board_path=str(workdir / "running"),
            workers=settings.workers,
            timeout_seconds=settings.timeout_seconds,
            pytest_args=settings.pytest_args,
            collect_only=collect_only,
            temp_dir=str(workdir / "tmp"),
            max_journeys=settings.max_journeys,
            retries=settings.retries,
            degraded_after_seconds=settings.degraded_after_seconds,
            interval_seconds=settings.interval_seconds,
            tick=tick,
            paused=paused,
            shard=settings.shard,
            artifacts_dir=str(self.artifacts_dir or ""),
            chains=chains,
            bytecode_dir="" if settings.once else str(self.folder / BYTECODE_FOLDER),  # --once has no next cycle
        )

    def _wait(self, process: multiprocessing.process.BaseProcess, heartbeat: Path) -> tuple[bool, bool]:
        """Wait for the child; kill its group on stop or when its heartbeat goes quiet. Returns (stopped, stalled).

        A beat is any change of the heartbeat file, timed on the monotonic clock: a wall clock set back or
        forward does not make a healthy cycle look silent.
        """
        # Collection and each journey are bounded by the timeout; silence beyond that means a hang we
        # cannot see from inside (an import that blocks, a stuck plugin, a process stopped by SIGSTOP).
        quiet_limit = self._quiet_limit()
        last_beat, beat = time.monotonic(), _beat(heartbeat)
        ended: float | None = None
        while True:
            process.join(JOIN_POLL_SECONDS)
            if process.exitcode is not None:
                return False, False
            if self._stop.is_set():
                _kill_cycle(process)
                return True, False
            now, seen = time.monotonic(), _beat(heartbeat)
            ended = (ended or now) if state_of(process.pid or 0) in ENDED_STATES else None
            if ended is not None and now - ended > UNREPORTED_END_SECONDS:
                # The child is gone but its parent, the forkserver, does not say so: stopped (SIGSTOP) or hung.
                forking.kill_forkserver("did not report the end of a cycle")
            if seen != beat:
                last_beat, beat = now, seen
            elif now - last_beat > quiet_limit:
                _kill_cycle(process)
                return False, True


def _beat(heartbeat: Path) -> tuple[int, int]:
    """What changes at every beat: the file is replaced (a new inode) or touched (a new mtime)."""
    try:
        stat = heartbeat.stat()
    except OSError:
        return (0, 0)
    return (stat.st_ino, stat.st_mtime_ns)


def _kill_cycle(process: multiprocessing.process.BaseProcess) -> None:
    """Kill every process of the cycle: the child, its session (workers) and all its descendants, daemons that
    left the session included; then wait (bounded) for the child's end."""
    pid = process.pid
    assert pid is not None
    kill_family(pid)
    process.join(REAP_SECONDS)


def _reap(pid: int) -> None:
    """Wait for a killed child of ours, at most REAP_SECONDS."""
    deadline = time.monotonic() + REAP_SECONDS
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(pid, os.WNOHANG) == (0, 0) and time.monotonic() < deadline:
            time.sleep(JOIN_POLL_SECONDS)


def _tail(path: Path) -> str:
    try:
        with path.open("rb") as output:
            output.seek(max(0, path.stat().st_size - 16_384))
            lines = output.read().decode(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-OUTPUT_TAIL_LINES:])
