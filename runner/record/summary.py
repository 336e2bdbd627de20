"""A readable table of one cycle's results, for ``--once``."""

from __future__ import annotations

from runner.handoff.results import CycleReport

SHOWN = {"failing": "FAILED", "degraded": "DEGRADED", "flaky": "passed", "passing": "passed"}
MESSAGE_WIDTH = 1000  # the end of a line often says most ("... Connection refused')"): let the terminal wrap


def render(cycle: CycleReport, duration_seconds: float, muted: frozenset[str] = frozenset()) -> str:
    """The table: one row per journey, failures with their reason and first line (degraded runs with why; those
    in a mute maintenance window as MUTED), journeys a pause window kept from running, then a closing line."""
    rows = [f"{'RESULT':<8} {'SECONDS':>8}  JOURNEY"]
    for result in sorted(cycle.results, key=lambda r: (r.passed, not r.degraded, r.journey)):
        shown = "MUTED" if result.journey in muted and not result.passed else SHOWN[result.state]
        rows.append(f"{shown:<8} {result.duration_seconds:>8.3f}  {result.journey}")
        if not result.passed:
            rows.append(f"{'':<18}{result.reason}: {result.headline[:MESSAGE_WIDTH]}")
            if result.trace_id:
                rows.append(f"{'':<18}trace {result.trace_id}")
        elif result.degraded:
            rows.append(f"{'':<18}{result.degraded[:MESSAGE_WIDTH]}")
    for journey in cycle.paused:
        rows.append(f"{'PAUSED':<8} {'':>8}  {journey}")
    for error in cycle.collection_errors:
        rows.append(f"{'BROKEN':<8} {'':>8}  {error.path}")
        rows.append(f"{'':<18}{error.message[:MESSAGE_WIDTH]}")
    for line in cycle.error.splitlines():
        rows.append(f"{'ERROR':<8} {'':>8}  {line[:MESSAGE_WIDTH]}")
    failed = len(cycle.failed)
    degraded = sum(bool(result.passed and result.degraded) for result in cycle.results)
    rows.append(
        f"{len(cycle.results) - failed} passed{f' ({degraded} degraded)' if degraded else ''}, {failed} failed, "
        f"{len(cycle.collection_errors)} collection errors{f', {len(cycle.paused)} paused' if cycle.paused else ''} "
        f"in {duration_seconds:.2f}s"
    )
    return "\n".join(rows)
