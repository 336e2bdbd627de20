"""Turn a pytest-json-report document into journey results: pure functions, no I/O.

Usage::

    cycle = parse_report(json.loads(path.read_text()), journeys_dir="journeys")
    for result in cycle.results:
        print(result.journey, result.passed, result.duration_seconds)
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any

# The runner's own failure texts for journeys whose process it lost; the report keeps them as longrepr.
CRASH_PREFIX = "synthetic-monitor: the journey's process died"
KILLED_PREFIX = "synthetic-monitor: the journey overran its timeout"
PYTEST_TIMEOUT_MARK = "from pytest-timeout"

REASONS = ("assertion", "error", "timeout", "crash")
MESSAGE_LINES = 6
MESSAGE_CHARS = 2000
STAGES = ("setup", "call", "teardown")
SUCCESS_OUTCOMES = frozenset({"passed", "xpassed"})
FAILURE_OUTCOMES = frozenset({"failed", "error"})


@dataclass(frozen=True, slots=True)
class JourneyResult:
    """One executed journey: pass or fail, how long it took, and why it failed."""

    journey: str
    passed: bool
    duration_seconds: float
    reason: str | None = None
    message: str = ""

    @property
    def headline(self) -> str:
        """The first line of the failure message."""
        return first_line(self.message)


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

    @property
    def failed(self) -> tuple[JourneyResult, ...]:
        """The results that are failures."""
        return tuple(result for result in self.results if not result.passed)


def parse_report(report: dict[str, Any], journeys_dir: str) -> CycleReport:
    """Convert a pytest-json-report document into a CycleReport.

    ``journeys_dir`` is the journeys folder relative to the report's ``root`` (or absolute); node ids are
    made relative to it.
    """
    prefix = _node_prefix(str(report.get("root", "")), journeys_dir)
    collectors = report.get("collectors", [])
    results = tuple(result for test in report.get("tests", []) if (result := journey_result(test, prefix)) is not None)
    return CycleReport(
        collected=tuple(_strip(nodeid, prefix) for nodeid in collected_nodeids(collectors)),
        results=results,
        collection_errors=tuple(
            CollectionError(_strip(c["nodeid"], prefix) or ".", collection_message(c.get("longrepr", "")))
            for c in collectors
            if c.get("outcome") == "failed"
        ),
        over_cap=int(report.get("synthetic_over_cap", 0)),
    )


def collected_nodeids(collectors: list[dict[str, Any]]) -> list[str]:
    """The selected test items: collected children that are not collectors themselves nor deselected."""
    collector_ids = {collector["nodeid"] for collector in collectors}
    seen: dict[str, None] = {}
    for collector in collectors:
        for child in collector.get("result", []):
            nodeid = child["nodeid"]
            if nodeid not in collector_ids and not child.get("deselected"):
                seen[nodeid] = None
    return list(seen)


def journey_result(test: dict[str, Any], prefix: str = "") -> JourneyResult | None:
    """One test entry as a JourneyResult; None for outcomes that give no observation (skipped, xfailed)."""
    outcome = test.get("outcome")
    if outcome not in SUCCESS_OUTCOMES | FAILURE_OUTCOMES:
        return None
    stages = [test[stage] for stage in STAGES if isinstance(test.get(stage), dict)]
    duration = sum(float(stage.get("duration") or 0.0) for stage in stages)
    journey = _strip(test["nodeid"], prefix)
    if outcome in SUCCESS_OUTCOMES:
        return JourneyResult(journey, True, duration)
    failing = [(name, test[name]) for name in STAGES if _stage_failed(test.get(name))]
    stage_name, stage = failing[0] if failing else ("call", {})
    message = failure_message(stage)
    return JourneyResult(journey, False, duration, classify(stage_name, first_line(message)), message)


def failure_message(stage: dict[str, Any]) -> str:
    """The first lines of what went wrong in a stage: the crash message, else the long representation."""
    crash = stage.get("crash")
    text = crash.get("message", "") if isinstance(crash, dict) else ""
    lines = [line.rstrip() for line in (text or stage.get("longrepr", "")).strip().splitlines()]
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


def collection_message(longrepr: str) -> str:
    """What broke a file: pytest's last ``E``-marked line (``ModuleNotFoundError: ...``), else its first line."""
    marked = [line[1:].strip() for line in longrepr.splitlines() if line.startswith("E ") and line[1:].strip()]
    return marked[-1] if marked else first_line(longrepr)


def first_line(text: str) -> str:
    """The first non-empty line of ``text``, stripped."""
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _stage_failed(stage: object) -> bool:
    return isinstance(stage, dict) and stage.get("outcome") == "failed"


def _node_prefix(root: str, journeys_dir: str) -> str:
    path = journeys_dir.replace("\\", "/")
    if posixpath.isabs(path) and root:
        path = posixpath.relpath(path, root.replace("\\", "/"))
    path = posixpath.normpath(path)
    return "" if path in (".", "") or path.startswith("..") else path + "/"


def _strip(nodeid: str, prefix: str) -> str:
    if prefix and nodeid.startswith(prefix):
        return nodeid[len(prefix) :]
    if prefix and nodeid == prefix.rstrip("/"):
        return ""
    return nodeid
