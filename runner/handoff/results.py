"""Journey results from pytest's own reports: pure functions, no I/O.

A journey's setup, call and teardown reports become one ``JourneyResult`` in the process that ran it, so the
result travels in its final form: nothing is serialized as a pytest report, replayed or parsed again.

Usage::

    result = journey_result("test_a.py::test_b", [setup, call, teardown], shared_seconds=0.2)
    if result is not None:          # None: skipped or xfailed, no observation
        print(result.journey, result.passed, result.duration_seconds)
"""

from __future__ import annotations

import posixpath
import re
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from runner.handoff.observations import NOTHING_OBSERVED, Observations

# The runner's own failure texts for journeys whose process it lost.
CRASH_PREFIX = "synthetic-monitor: the journey's process died"
KILLED_PREFIX = "synthetic-monitor: the journey overran its timeout"
PYTEST_TIMEOUT_MARK = "from pytest-timeout"

# Why a journey failed (README, "Why a journey failed"): where it broke, from the exception pytest saw.
REASONS = ("assertion", "http", "network", "tls", "timeout", "crash", "blocked", "error")
# pytest's exit statuses that say the session itself went wrong (ExitCode.INTERRUPTED, INTERNAL_ERROR,
# USAGE_ERROR); 0, 1 (journeys failed) and 5 (none collected) are a cycle's ordinary ends.
SESSION_ERROR_STATUSES = {2: "interrupted", 3: "internal error", 4: "usage error"}
EXIT_INTERNAL_ERROR = 3
# Frames of these modules are pytest's machinery (and ours), not where a hook went wrong.
MACHINERY = frozenset({"_pytest", "pytest", "pluggy", "runner", "warnings", "contextlib"})
MESSAGE_LINES = 6
MESSAGE_CHARS = 2000
# Lone surrogates: what os.fsdecode makes of bytes that are not UTF-8 (a file name from a Latin-1 disk). No
# UTF-8 text (a metrics body, a page, a JSON document) can hold them.
LONE_SURROGATES = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


@dataclass(frozen=True, slots=True)
class StepResult:
    """One ``with step(name):`` block of a journey run: how long it took and whether it ended normally."""

    name: str
    seconds: float
    passed: bool
    degraded: bool = False  # passed, but took longer than its degraded_after


@dataclass(frozen=True, slots=True)
class JourneyResult:
    """One executed journey: pass or fail, how long it took, why it failed, and its steps."""

    journey: str
    passed: bool
    duration_seconds: float
    reason: str | None = None
    message: str = ""
    steps: tuple[StepResult, ...] = ()
    attempts: int = 1  # with retries: how many runs this cycle took
    first_failure: str = ""  # with retries: the first attempt's failure message
    trace_id: str = ""  # the W3C trace id of the recorded run (32 hex digits); "" when the worker died
    artifacts: tuple[tuple[str, str], ...] = ()  # a failed browser run's ("page", url), ("screenshot", path)
    degraded: str = ""  # passed, but slow or said so: why ("took 2.31 s, degraded after 1.50 s")
    blocked_by: str = ""  # reason "blocked": the fixture wider than the journey whose failure it was
    observed: Observations = NOTHING_OBSERVED  # its requests' phases, the certificates and Web Vitals it met

    @property
    def state(self) -> str:
        """failing, degraded, flaky (passed on a retry) or passing."""
        if not self.passed:
            return "failing"
        if self.degraded:
            return "degraded"
        return "flaky" if self.attempts > 1 else "passing"

    def to_wire(self) -> tuple[Any, ...]:
        """The result as a worker sends it (plain values ``marshal`` takes); the journey's id stays behind, the
        controller knows it by the item's index. ``from_wire`` is the other end."""
        steps = tuple((step.name, step.seconds, step.passed, step.degraded) for step in self.steps)
        return (
            self.passed,
            self.duration_seconds,
            self.reason,
            self.message,
            steps,
            self.attempts,
            self.first_failure,
            self.trace_id,
            self.artifacts,
            self.degraded,
            self.blocked_by,
            self.observed.to_wire(),
        )

    @classmethod
    def from_wire(cls, journey: str, fields: Sequence[Any]) -> JourneyResult:
        """The result ``to_wire`` sent, for ``journey``."""
        passed, seconds, reason, message, steps, attempts, first_failure, trace_id, artifacts, *rest = fields
        degraded, blocked_by, observed = rest
        return cls(
            journey,
            passed,
            seconds,
            reason,
            message,
            tuple(StepResult(*step) for step in steps),
            attempts,
            first_failure,
            trace_id,
            tuple((kind, value) for kind, value in artifacts),
            degraded,
            blocked_by,
            Observations.from_wire(observed),
        )

    @property
    def flaky(self) -> bool:
        """Passed, but only on a retry."""
        return self.passed and self.attempts > 1

    @property
    def headline(self) -> str:
        """The first line of the failure message."""
        return first_line(self.message)


@dataclass(frozen=True, slots=True)
class FixtureTiming:
    """Time a fixture wider than one journey (class, module, package, session) took to set up or tear down."""

    fixture: str
    scope: str
    phase: str  # setup or teardown
    seconds: float

    def to_wire(self) -> tuple[str, str, str, float]:
        """As a worker sends it; ``FixtureTiming(*wire)`` is the other end."""
        return (self.fixture, self.scope, self.phase, self.seconds)


@dataclass(frozen=True, slots=True)
class CollectionError:
    """A journey file (or folder) that pytest could not collect."""

    path: str
    message: str


@dataclass(frozen=True, slots=True)
class CycleReport:
    """What one run of the suite found: selected journeys, their results and the files that broke."""

    collected: tuple[str, ...]
    results: tuple[JourneyResult, ...]
    collection_errors: tuple[CollectionError, ...]
    over_cap: int = 0  # journeys collected beyond --max-journeys, not run
    other_shards: int = 0  # journeys collected that belong to other shards (--shard), not run here
    fixtures: tuple[FixtureTiming, ...] = ()
    notes: tuple[str, ...] = ()  # pytest options the runner overrode, each said once in the log
    labels: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()  # (journey, its labels) when it has any
    periods: tuple[tuple[str, float], ...] = ()  # (journey, seconds) of those with an interval of their own
    not_due: int = 0  # journeys collected but not due in this cycle (their interval is longer than the runner's)
    paused: tuple[str, ...] = ()  # journeys not run: a pause maintenance window was in force
    slos: tuple[tuple[str, tuple[float, int]], ...] = ()  # (journey, (objective, window seconds)) of @pytest.mark.slo
    exit_status: int = 0  # pytest's
    error: str = ""  # what went wrong with the session itself (an internal error, an interruption), or ""

    @property
    def failed(self) -> tuple[JourneyResult, ...]:
        """The results that are failures."""
        return tuple(result for result in self.results if not result.passed)


class PhaseReport(Protocol):
    """What the conversion reads of a pytest ``TestReport``."""

    @property
    def when(self) -> str | None: ...

    @property
    def duration(self) -> float: ...

    @property
    def longrepr(self) -> object: ...

    @property
    def passed(self) -> bool: ...

    @property
    def failed(self) -> bool: ...


def journey_result(
    journey: str,
    reports: Sequence[PhaseReport],
    shared_seconds: float = 0.0,
    *,
    steps: Sequence[StepResult] = (),
    failed_step: str | None = None,
    earlier: Sequence[Sequence[PhaseReport]] = (),
    trace_id: str = "",
    artifacts: Sequence[tuple[str, str]] = (),
    reason: str | None = None,
    blocked_by: tuple[str, str] | None = None,
    degraded: str = "",
    observed: Observations = NOTHING_OBSERVED,
) -> JourneyResult | None:
    """A journey's phase reports as one result; None when they give no observation (skipped, xfailed).

    A failure in any phase fails the journey (the first one names the reason: ``reason`` as the journey plugin
    found it from the exception, else from the message); a call that passed (or xpassed) is a success,
    ``degraded`` when the plugin said why. ``shared_seconds``, time spent on fixtures wider than the journey,
    is not its own. A failure inside a step starts with the step's name: ``step 'pay': AssertionError: card
    declined``; one blocked by a wide fixture (``blocked_by``: its name and scope) names the fixture.
    ``reports`` are the recorded (last) attempt's; ``earlier`` the attempts before it, each failed and retried.
    """
    attempts, first_failure = len(earlier) + 1, _retried_failure(earlier[0]) if earlier else ""
    duration = max(0.0, sum(report.duration for report in reports) - shared_seconds)
    for report in reports:
        if report.failed:
            message = failure_message(report.longrepr)
            found = reason or classify(report.when or "call", first_line(message))
            fixture = ""
            if blocked_by is not None:
                found, (fixture, scope) = "blocked", blocked_by
                message = f"fixture {fixture!r} ({scope}) failed: {message}"
            elif failed_step is not None and report.when == "call":
                message = f"step {failed_step!r}: {message}"
            return JourneyResult(
                journey,
                False,
                duration,
                found,
                message,
                tuple(steps),
                attempts,
                first_failure,
                trace_id,
                tuple(artifacts),
                blocked_by=fixture,
                observed=observed,
            )
    if any(report.when == "call" and report.passed for report in reports):
        return JourneyResult(
            journey,
            True,
            duration,
            None,
            "",
            tuple(steps),
            attempts,
            first_failure,
            trace_id,
            degraded=degraded,
            observed=observed,
        )
    return None


def _retried_failure(attempt: Sequence[PhaseReport]) -> str:
    """The failure message of an attempt that was retried (its failed phase reports outcome "rerun")."""
    for report in attempt:
        if getattr(report, "outcome", "") == "rerun" or report.failed:
            return failure_message(report.longrepr)
    return ""


def safe_text(text: str) -> str:
    """``text`` that any UTF-8 output can carry: each lone surrogate becomes U+FFFD, the replacement character.

    Every text that comes from a journey (its id, a step's name, a label, a failure message) passes here where
    it enters, so that no later stage (/metrics, the page, the metrics file, the log) meets one it cannot write.
    """
    return LONE_SURROGATES.sub(REPLACEMENT, text)


def failure_message(longrepr: object) -> str:
    """The first lines of what went wrong: pytest's crash message (the exception line), else the whole text."""
    crash = getattr(longrepr, "reprcrash", None)
    text = getattr(crash, "message", "") if crash is not None else ""
    lines = [line.rstrip() for line in safe_text(text or str(longrepr or "")).strip().splitlines()]
    return "\n".join(lines[:MESSAGE_LINES])[:MESSAGE_CHARS] or "failed without a message"


def classify(stage: str, message: str) -> str:
    """The failure reason: timeout, crash, assertion (a failed expectation in the call) or error."""
    if message.startswith(KILLED_PREFIX) or PYTEST_TIMEOUT_MARK in message or message.startswith("Failed: Timeout"):
        return "timeout"
    if message.startswith(CRASH_PREFIX):
        return "crash"
    if stage == "call" and message.startswith(("AssertionError", "assert ", "Failed:")):
        return "assertion"
    return "error"


def session_error(kind: str, exc: BaseException) -> str:
    """What broke a whole session, in at most two lines: the exception, then where a hook raised it.

    ``pytest internal error: PytestUnknownMarkWarning: Unknown pytest.mark.x - is this a typo? ...``
    ``in pytest_collection_modifyitems, conftest.py:5``: the innermost frame outside pytest's machinery.
    """
    line = first_line("".join(traceback.format_exception_only(type(exc), exc))) or type(exc).__name__
    where = ""
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        module = str(frame.f_globals.get("__name__", ""))
        if module.partition(".")[0] not in MACHINERY:
            where = f"\nin {frame.f_code.co_name}, {frame.f_code.co_filename}:{lineno}"
    return safe_text(f"pytest {kind}: {line}{where}")[:MESSAGE_CHARS]


def status_error(exit_status: int) -> str:
    """The session error an exit status alone tells of ("" for a cycle's ordinary ends)."""
    kind = SESSION_ERROR_STATUSES.get(exit_status)
    return f"pytest exited with status {exit_status} ({kind})" if kind else ""


def collection_message(longrepr: str) -> str:
    """What broke a file: pytest's last ``E``-marked line (``ModuleNotFoundError: ...``), else its first line."""
    longrepr = safe_text(longrepr)
    marked = [line[1:].strip() for line in longrepr.splitlines() if line.startswith("E ") and line[1:].strip()]
    return marked[-1] if marked else first_line(longrepr)


def first_line(text: str) -> str:
    """The first non-empty line of ``text``, stripped."""
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def node_prefix(rootdir: str, journeys_dir: str) -> str:
    """The start of node ids (relative to ``rootdir``) that the journeys folder accounts for: ``journeys/``."""
    path = journeys_dir.replace("\\", "/")
    if posixpath.isabs(path) and rootdir:
        path = posixpath.relpath(path, rootdir.replace("\\", "/"))
    path = safe_text(posixpath.normpath(path))  # compared with node ids made safe
    return "" if path in (".", "") or path.startswith("..") else path + "/"


def journey_id(nodeid: str, prefix: str) -> str:
    """A node id relative to the journeys folder, so the ``journey`` label does not depend on the rootdir."""
    nodeid = safe_text(nodeid)
    if prefix and nodeid.startswith(prefix):
        return nodeid[len(prefix) :]
    if prefix and nodeid == prefix.rstrip("/"):
        return ""
    return nodeid
