"""What the runner hands a cycle's process and what it gets back, without importing pytest.

The runner's own process never imports pytest or the journeys: it sends a ``CycleRequest`` to a forked
child, watches the child's heartbeat, and loads the pickled ``CycleReport`` the child writes.

Usage::

    process = context.Process(target=runner.cycle.entry.start_cycle, args=(CycleRequest(...),))
    report = read_report(Path(request.report_path))   # None if the cycle wrote none
"""

from __future__ import annotations

import mmap
import os
import pickle
import signal
import struct
from dataclasses import dataclass
from pathlib import Path

from runner.handoff.files import write_atomically
from runner.handoff.observations import KnownChain
from runner.handoff.results import CycleReport
from runner.settings.maintenance import Selector
from runner.settings.shard import EVERY_JOURNEY, Shard

HEARTBEAT_SECONDS = 0.5
SLOT_BYTES = 512  # a journey id longer than this (less its length) is cut short
_LENGTH = struct.Struct("=H")
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
    degraded_after_seconds: float | None = None
    interval_seconds: float | None = None  # the runner's: journeys' own intervals are multiples of it
    tick: int | None = None  # the cycle's number (runner.handoff.frequency); None: every journey is due
    paused: tuple[Selector | None, ...] = ()  # pause windows in force: the journeys they select are not run
    shard: Shard = EVERY_JOURNEY
    artifacts_dir: str = ""  # where browser journeys' screenshots go, outside the cycle's folder
    board_path: str = ""  # the RunningBoard: which journey each worker runs
    chains: tuple[KnownChain, ...] = ()  # TLS chains the last cycles decoded (runner.journey.certificates.learn)
    bytecode_dir: str = ""  # the runner's: the journeys' compiled, assertion-rewritten code, kept across cycles


def write_report(path: Path, report: CycleReport) -> None:
    """Atomically: the runner reads either the whole report or none."""
    write_atomically(path, pickle.dumps(report, protocol=pickle.HIGHEST_PROTOCOL))


def read_report(path: Path) -> CycleReport | None:
    """The report a cycle wrote, or None if it wrote none."""
    try:
        with path.open("rb") as file:
            report = pickle.load(file)  # noqa: S301  (written by the runner's own child a moment ago)
    except (OSError, EOFError, pickle.UnpicklingError):
        return None
    return report if isinstance(report, CycleReport) else None


class RunningBoard:
    """Which journey each worker runs now: one fixed slot per worker in a file the cycle's processes map.

    A worker writes a journey's id into its slot as it starts it (a copy into shared memory, no system call),
    so the runner can name the journeys that were running when a cycle went silent, even when the cycle's
    process was stopped before it heard of them.
    """

    def __init__(self, path: Path, slots: int) -> None:
        with path.open("w+b") as file:
            # Written, not truncated to size: a page of a sparse file that a full disk cannot back kills whoever
            # writes to the map with SIGBUS; written, a full disk is an OSError here, with its own words.
            file.write(bytes(slots * SLOT_BYTES))
            file.flush()
            self._map = mmap.mmap(file.fileno(), slots * SLOT_BYTES)

    def show(self, slot: int, journey: str) -> None:
        """Say that the worker of ``slot`` runs ``journey`` now ("" for nothing)."""
        data = journey.encode("utf-8", "replace")[: SLOT_BYTES - _LENGTH.size]
        start = slot * SLOT_BYTES
        self._map[start + _LENGTH.size : start + _LENGTH.size + len(data)] = data
        _LENGTH.pack_into(self._map, start, len(data))  # last: a reader sees the old id or the new one


def read_running(path: Path) -> tuple[str, ...]:
    """The journeys a cycle's board says are running."""
    try:
        board = path.read_bytes()
    except OSError:
        return ()
    found = []
    for start in range(0, len(board) - _LENGTH.size + 1, SLOT_BYTES):
        (length,) = _LENGTH.unpack_from(board, start)
        data = board[start + _LENGTH.size : start + _LENGTH.size + min(length, SLOT_BYTES - _LENGTH.size)]
        if data:
            found.append(data.decode("utf-8", "replace"))
    return tuple(found)


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
