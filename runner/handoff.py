"""What the runner hands a cycle's process and what it gets back, without importing pytest.

The runner's own process never imports pytest or the journeys: it sends a ``CycleRequest`` to a forked
child, watches the child's heartbeat, and loads the pickled ``CycleReport`` the child writes.

Usage::

    process = context.Process(target=start_cycle, args=(CycleRequest(...),))
    report = read_report(Path(request.report_path))   # None if the cycle wrote none
"""

from __future__ import annotations

import os
import pickle
import signal
from dataclasses import dataclass
from pathlib import Path

from runner.report import CycleReport
from runner.shard import EVERY_JOURNEY, Shard

HEARTBEAT_SECONDS = 0.5
KILL_GRACE_SECONDS = 2.0
REFUSAL_PREFIX = "pytest option"  # how a usage error about a pytest option the monitor refuses begins


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
    retries: int | None = None
    shard: Shard = EVERY_JOURNEY
    artifacts_dir: str = ""  # where browser journeys' screenshots go, outside the cycle's folder


def start_cycle(request: CycleRequest) -> None:
    """The cycle process's entry point; ``runner.child`` is already imported there (the forkserver preloads it)."""
    from runner.child import run_cycle  # noqa: PLC0415  (keeps pytest out of the runner's own process)

    run_cycle(request)


def write_report(path: Path, report: CycleReport) -> None:
    """Atomically: the runner reads either the whole report or none."""
    partial = path.with_suffix(".partial")
    with partial.open("wb") as file:
        pickle.dump(report, file, protocol=pickle.HIGHEST_PROTOCOL)
    partial.replace(path)


def read_report(path: Path) -> CycleReport | None:
    """The report a cycle wrote, or None if it wrote none."""
    try:
        with path.open("rb") as file:
            report = pickle.load(file)  # noqa: S301  (written by the runner's own child a moment ago)
    except (OSError, EOFError, pickle.UnpicklingError):
        return None
    return report if isinstance(report, CycleReport) else None


def describe_status(status: int) -> str:
    """A wait status in words: 'exit status 3' or 'signal 11 (SIGSEGV)'."""
    if os.WIFSIGNALED(status):
        return describe_signal(os.WTERMSIG(status))
    return f"exit status {os.waitstatus_to_exitcode(status)}"


def describe_signal(number: int) -> str:
    """'signal 9 (SIGKILL)'."""
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = "unknown"
    return f"signal {number} ({name})"
