"""Each journey's recent results, bounded, optionally kept in a state file across restarts.

Usage::

    history = History(max_runs=50, state_file=Path("/var/lib/synthetic/state.json"))
    history.record(cycle_report, finished_at=time.time(), duration_seconds=1.2)
    history.as_json()      # what /api/results serves
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from runner.errors import ConfigError
from runner.handoff.files import write_atomically
from runner.handoff.observations import NOTHING_OBSERVED, Observations
from runner.handoff.results import CycleReport, StepResult
from runner.record import state_file
from runner.record.document import HistoryPart, JourneyEntry, LastCycle
from runner.record.request_entries import observed_json
from runner.settings.command_line import DEFAULT_HISTORY_RUNS

STATE_VERSION = 1


@dataclass(frozen=True, slots=True)
class Run:
    """One run of one journey."""

    at: float
    passed: bool
    duration_seconds: float
    reason: str | None = None
    message: str = ""
    flaky: bool = False  # passed on a retry; ``message`` is then the first attempt's failure
    trace_id: str = ""  # the run's W3C trace id
    degraded: str = ""  # passed but degraded: why
    blocked_by: str = ""  # failed because this fixture, wider than the journey, failed
    muted: bool = False  # ran in a mute maintenance window: recorded, never alerting, left out of uptime


@dataclass(frozen=True, slots=True)
class CycleSummary:
    """The last cycle as a whole."""

    finished_at: float
    duration_seconds: float
    passed: int
    failed: int
    collection_errors: tuple[tuple[str, str], ...]


class History:
    """Bounded per-journey history: at most ``max_runs`` runs per journey, whatever the number of cycles."""

    def __init__(self, max_runs: int = DEFAULT_HISTORY_RUNS, state_file: Path | None = None) -> None:
        self.max_runs = max_runs
        self.state_file = state_file
        self._runs: dict[str, deque[Run]] = {}
        self._failing_since: dict[str, float] = {}
        self._last_steps: dict[str, tuple[StepResult, ...]] = {}  # the last run's only: bounded by MAX_STEPS
        self._last_observed: dict[str, Observations] = {}  # the last run's: bounded by MAX_REQUESTS
        self.last_cycle: CycleSummary | None = None
        # More state kept in the same file (the ad-hoc maintenance windows): its key -> what to save.
        self.sections: dict[str, Callable[[], object]] = {}
        self.loaded_sections: dict[str, object] = {}  # what a loaded file held under keys not its own
        self._lock = threading.Lock()
        self._save_lock = threading.Lock()

    def add_journeys(self, journeys: Iterable[str]) -> None:
        """Journeys that exist but may not have run yet."""
        with self._lock:
            for journey in journeys:
                self._runs.setdefault(journey, deque(maxlen=self.max_runs))

    def record(
        self, cycle: CycleReport, finished_at: float, duration_seconds: float, muted: frozenset[str] = frozenset()
    ) -> None:
        """Add one cycle's results (``muted``: the journeys that ran in a mute maintenance window); drop journeys no
        longer collected when the collection was clean."""
        with self._lock:
            for result in cycle.results:
                runs = self._runs.setdefault(result.journey, deque(maxlen=self.max_runs))
                message = result.first_failure if result.flaky else result.message
                runs.append(
                    Run(
                        finished_at,
                        result.passed,
                        result.duration_seconds,
                        result.reason,
                        message,
                        result.flaky,
                        result.trace_id,
                        result.degraded,
                        result.blocked_by,
                        result.journey in muted,
                    )
                )
                self._last_steps[result.journey] = result.steps
                self._last_observed[result.journey] = result.observed
                if result.passed:
                    self._failing_since.pop(result.journey, None)
                else:
                    self._failing_since.setdefault(result.journey, finished_at)
            if not cycle.collection_errors and cycle.collected:
                current = set(cycle.collected) | {result.journey for result in cycle.results}
                for journey in set(self._runs) - current:
                    del self._runs[journey]
                    self._failing_since.pop(journey, None)
                    self._last_steps.pop(journey, None)
                    self._last_observed.pop(journey, None)
            failed = len(cycle.failed)
            self.last_cycle = CycleSummary(
                finished_at,
                duration_seconds,
                len(cycle.results) - failed,
                failed,
                tuple((error.path, error.message) for error in cycle.collection_errors),
            )
        self.save()

    def as_json(self) -> HistoryPart:
        """The last cycle and every journey's state and recent runs, oldest first."""
        with self._lock:
            journeys = [self._journey_json(name, list(runs)) for name, runs in sorted(self._runs.items())]
            last = self.last_cycle
        last_cycle: LastCycle | None = None
        if last is not None:
            last_cycle = {
                "finished_at": last.finished_at,
                "duration_seconds": last.duration_seconds,
                "passed": last.passed,
                "failed": last.failed,
                "collection_errors": [{"path": path, "message": message} for path, message in last.collection_errors],
            }
        return {"last_cycle": last_cycle, "journeys": journeys}

    def _journey_json(self, name: str, runs: list[Run]) -> JourneyEntry:
        last = runs[-1] if runs else None
        state = _state(last)
        observed = observed_json(self._last_observed.get(name, NOTHING_OBSERVED))
        return {
            "journey": name,
            "state": state,
            "last_run_at": last.at if last else None,
            "last_duration_seconds": last.duration_seconds if last else None,
            "failing_since": self._failing_since.get(name),
            "reason": last.reason if last else None,
            "message": last.message if last else "",
            "degraded": last.degraded if last else "",
            "blocked_by": (last.blocked_by or None) if last else None,
            "trace_id": last.trace_id if last else "",
            "steps": [
                {"name": step.name, "seconds": step.seconds, "passed": step.passed, "degraded": step.degraded}
                for step in self._last_steps.get(name, ())
            ],
            "requests": observed["requests"],
            "requests_total": observed["requests_total"],
            "slowest_request": observed["slowest_request"],
            "web_vitals": observed["web_vitals"],
            "history": [
                {
                    "at": r.at,
                    "passed": r.passed,
                    "flaky": r.flaky,
                    "degraded": bool(r.degraded),
                    "muted": r.muted,
                    "duration_seconds": r.duration_seconds,
                    "reason": r.reason,
                    "trace_id": r.trace_id,
                }
                for r in runs
            ],
        }

    def save(self) -> None:
        """Write the state file atomically (a temporary file in the same folder, then rename)."""
        if self.state_file is None:
            return
        # One save at a time, snapshot and write together: the cycle thread and an HTTP thread (a maintenance
        # window made) never land an older snapshot after a newer one.
        with self._save_lock:
            with self._lock:
                state = {
                    "version": STATE_VERSION,
                    "runs": {name: [asdict(run) for run in runs] for name, runs in self._runs.items()},
                    "failing_since": dict(self._failing_since),
                    "last_cycle": asdict(self.last_cycle) if self.last_cycle else None,
                }
            state.update({key: take() for key, take in self.sections.items()})
            write_atomically(self.state_file, json.dumps(state).encode())

    def load(self) -> None:
        """Read the state file if there is one; a damaged one is a ConfigError naming it, the place and the value.

        Every field is checked for its type, so that nothing read here can fail a page later. Keys this version
        does not know are ignored: a newer runner's state file still loads after a rollback.
        """
        if self.state_file is None or not self.state_file.exists():
            return
        where = f"--state-file {str(self.state_file)!r}"
        try:
            state = json.loads(self.state_file.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{where} cannot be read ({exc}); move it aside to start afresh") from None
        try:
            runs, failing_since, last = state_file.parse(state)
        except state_file.InvalidState as exc:
            raise ConfigError(f"{where}: {exc}; move it aside to start afresh") from None
        last_cycle = None if last is None else CycleSummary(**last)
        own = {"version", "runs", "failing_since", "last_cycle"}
        self.loaded_sections = {key: value for key, value in state.items() if key not in own}
        with self._lock:
            self._runs = {
                name: deque((Run(**run) for run in items), maxlen=self.max_runs) for name, items in runs.items()
            }
            self._failing_since = failing_since
            self.last_cycle = last_cycle


def _state(last: Run | None) -> str:
    """A journey's state from its last run: not yet run, blocked (by a wide fixture), failing, degraded (passed
    but slow, or said so), flaky (passed on a retry) or passing."""
    if last is None:
        return "not yet run"
    if not last.passed:
        return "blocked" if last.blocked_by else "failing"
    if last.degraded:
        return "degraded"
    return "flaky" if last.flaky else "passing"
