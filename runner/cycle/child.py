"""The cycle's child process: run pytest on the journeys with the worker pool and write the cycle's report.

The runner's forkserver imports this module (and with it pytest) once; each cycle is a fresh fork that imports
the journeys anew, so an edited journey is picked up on the next cycle. The report is the ``CycleReport``
itself, pickled: the runner reads it back as it was made.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
import traceback
from pathlib import Path

import pytest
import requests  # noqa: F401  (preloaded: nearly every journey imports it)

from runner.cycle.pytest_options import Options
from runner.cycle.recorder import Recorder
from runner.cycle.timer import SignalTimer
from runner.cycle.workers import WorkerPool
from runner.handoff import CycleRequest, write_report
from runner.handoff.procs import background_session, become_subreaper, kill_children
from runner.handoff.results import EXIT_INTERNAL_ERROR, CycleReport, session_error, status_error
from runner.journey import certificates

CYCLE_NICENESS = 5


def pytest_arguments(request: CycleRequest) -> list[str]:
    """The pytest command line for one cycle: the journeys and the user's arguments, nothing of the runner's.

    The runner's own settings go onto pytest's parsed options (``runner.cycle.pytest_options``), so no user
    configuration can reject them. Journeys that are the working directory are not named: pytest then applies the
    configuration's ``testpaths`` exactly as a plain ``pytest`` there does. The cache goes to the cycle's
    folder, never into the user's.
    """
    journeys = [] if Path(request.journeys).resolve() == Path.cwd() else [request.journeys]
    cache = ["-o", f"cache_dir={Path(request.temp_dir) / 'pytest-cache'}"]
    return [*journeys, *cache, *request.pytest_args]


def run_cycle(request: CycleRequest) -> None:
    """Entry point in the forked child: own session, output to a file, pytest, the report, exit with its code."""
    # The runner ends the whole cycle (workers included) by its session. Cycles are background work: when the
    # CPU is contended, /metrics and / answer first. With nothing else running (the usual case) a niced
    # process runs exactly as fast.
    background_session(CYCLE_NICENESS)
    become_subreaper()  # what a journey leaves behind, daemons included, comes to this process
    # Files a journey leaves in the temporary folder go with the cycle's folder.
    os.environ["TMPDIR"] = tempfile.tempdir = request.temp_dir
    output = os.open(request.output_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.close(output)
    options = Options(
        request.timeout_seconds,
        Path(request.temp_dir),
        request.collect_only,
        request.retries,
        degraded_after_seconds=request.degraded_after_seconds,
        interval_seconds=request.interval_seconds,
        artifacts_dir=Path(request.artifacts_dir) if request.artifacts_dir else None,
    )
    as_python_m_pytest(request.pytest_args)
    keep_bytecode(request.bytecode_dir, request.journeys)
    certificates.learn(request.chains)  # what the last cycles decoded, its workers need not decode again
    recorder = Recorder(Path(request.journeys))
    pool = WorkerPool(
        request.workers,
        request.timeout_seconds,
        recorder,
        Path(request.heartbeat_path),
        board=Path(request.board_path) if request.board_path else None,
        max_journeys=request.max_journeys,
        shard=request.shard,
        tick=request.tick,
        interval_seconds=request.interval_seconds,
        paused=request.paused,
    )
    code, error = 1, ""
    try:
        try:
            code = int(pytest.main(pytest_arguments(request), plugins=[options, SignalTimer(), recorder, pool]))
        except Exception as exc:  # a hook that raised past pytest itself: pytest_sessionfinish, pytest_unconfigure
            traceback.print_exc()
            code, error = EXIT_INTERNAL_ERROR, session_error("internal error", exc)
        report = cycle_report(options, recorder, pool, code, error)
        code = report.exit_status
        if recorder.session_started:
            write_report(Path(request.report_path), report)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        kill_children()  # what journeys started and left running, daemons included (a subreaper's)
    os._exit(code)


def keep_bytecode(folder: str, journeys: str) -> None:
    """Where bytecode may not be written beside the journeys, compile what the cycle imports into the runner's
    ``folder`` instead, for its next cycles to read.

    Each cycle imports the journeys afresh. With ``PYTHONDONTWRITEBYTECODE`` set (as in most container images,
    ours included) or the journeys' folder read-only, pytest rewrote every journey file every cycle: about
    0.4 ms of CPU a journey. ``sys.pycache_prefix`` is process-wide: a module the forkserver did not load is
    compiled once into ``folder`` too, on the first cycle that imports it, instead of read from its own
    ``__pycache__``; the runner passes no folder for ``--once``, which has no next cycle. Elsewhere pytest
    writes ``__pycache__`` beside the journeys, as it always does. A changed file is compiled again, as Python
    and pytest check it.
    """
    root = Path(journeys)
    if folder and (sys.dont_write_bytecode or not os.access(root if root.is_dir() else root.parent, os.W_OK)):
        sys.pycache_prefix = folder
        sys.dont_write_bytecode = False


def as_python_m_pytest(pytest_args: tuple[str, ...]) -> None:
    """Give the journeys the ``__main__`` and ``sys.argv`` of ``python -m pytest ARGS``, not the forkserver's.

    The forkserver's ``__main__`` is the built-in module of ``python -c`` (or the runner's console script, run
    again as ``__mp_main__``): a journey that reads or patches ``__main__.__file__``, or starts a process that
    imports the main module (multiprocessing's spawn), would see the runner instead of pytest.
    """
    spec = importlib.util.find_spec("pytest.__main__")
    if spec is None or spec.loader is None or spec.origin is None:
        return
    main = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(main)  # named pytest.__main__ while it runs, so it defines names and starts nothing
    main.__name__ = "__main__"
    sys.modules["__main__"] = main
    sys.modules.pop("__mp_main__", None)
    sys.argv = [spec.origin, *pytest_args]
    sys.orig_argv = [sys.executable, "-m", "pytest", *pytest_args]


def cycle_report(
    options: Options, recorder: Recorder, pool: WorkerPool, exit_status: int = 0, error: str = ""
) -> CycleReport:
    """The cycle's outcome: results in collection order, whichever worker finished first, and whatever went wrong
    with the session itself (then the exit status is pytest's for an internal error, if it was not already one)."""
    error = error or recorder.error or pool.error or status_error(exit_status)
    if error and not status_error(exit_status):
        exit_status = EXIT_INTERNAL_ERROR
    return CycleReport(
        collected=tuple(recorder.collected),
        results=tuple(result for _, result in sorted(pool.results, key=lambda pair: pair[0])),
        collection_errors=tuple(recorder.collection_errors),
        over_cap=pool.over_cap,
        other_shards=pool.other_shards,
        fixtures=tuple(pool.fixtures),
        notes=tuple(options.notes),
        labels=tuple(recorder.labels),
        periods=recorder.journey_periods(),
        slos=tuple(recorder.slos),
        not_due=pool.not_due,
        paused=tuple(pool.paused),
        exit_status=exit_status,
        error=error,
    )
