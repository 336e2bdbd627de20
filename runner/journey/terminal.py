"""What plain pytest's terminal summary says of the verdicts: failures' reasons, degraded and blocked journeys.

The verdict travels on each report (``synthetic_degraded``, ``synthetic_blocked_by``), so under pytest-xdist
the controller's summary has every worker's.

Usage::

    config.pluginmanager.register(VerdictSummary())
    # ======================== synthetic-monitor verdicts ========================
    # FAILED (network) test_book.py::test_guest_can_book
    # DEGRADED test_search.py::test_search - took 2.31 s, degraded after 1.50 s
    # BLOCKED 10 journeys by fixture signed_in (session): ConnectionError: ... refused
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from runner.handoff.results import failure_message, first_line

SHOWN_PER_FIXTURE = 3


class VerdictSummary:
    """Gathers the verdicts from the reports and writes them after pytest's own summary."""

    def __init__(self) -> None:
        self.degraded: list[tuple[str, str]] = []  # (node id, why)
        self.blocked: dict[str, tuple[str, list[str]]] = {}  # fixture (scope) -> (its error, node ids)
        self.failed: list[tuple[str, str]] = []  # (node id, reason), blocked ones apart

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if str(report.outcome) == "rerun":  # pytest-rerunfailures runs it again: only the last attempt says how it went
            return
        degraded = getattr(report, "synthetic_degraded", "")
        if degraded:
            self.degraded.append((report.nodeid, degraded))
        blocker = getattr(report, "synthetic_blocked_by", "")
        if blocker:
            error = first_line(failure_message(report.longrepr))
            self.blocked.setdefault(blocker, (error, []))[1].append(report.nodeid)
        elif getattr(report, "synthetic_reason", ""):
            self.failed.append((report.nodeid, report.synthetic_reason))

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.degraded and not self.blocked and not self.failed:
            return
        terminalreporter.write_sep("=", "synthetic-monitor verdicts")
        for nodeid, reason in self.failed:
            terminalreporter.write_line(f"FAILED ({reason}) {nodeid}", red=True)
        for nodeid, why in self.degraded:
            terminalreporter.write_line(f"DEGRADED {nodeid} - {why}")
        for blocker, (error, nodeids) in self.blocked.items():
            terminalreporter.write_line(
                f"BLOCKED {_journeys(nodeids)} by fixture {blocker}: {error}", red=True, bold=True
            )


def _journeys(nodeids: Sequence[str]) -> str:
    shown = ", ".join(nodeids[:SHOWN_PER_FIXTURE])
    more = f" and {len(nodeids) - SHOWN_PER_FIXTURE} more" if len(nodeids) > SHOWN_PER_FIXTURE else ""
    return f"{len(nodeids)} journey{'s' if len(nodeids) != 1 else ''} ({shown}{more})"
