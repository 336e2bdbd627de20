"""When a journey with its own interval is due: pure arithmetic on cycles, shared by the cycle and the runner.

The runner's cycles are numbered by the wall clock (``tick = round(time / interval)``), so a journey keeps its
place across restarts. A journey that runs every ``period`` seconds runs in one cycle out of
``period / interval``, and which one is set by a stable hash of its id: a hundred 5-minute journeys spread
over the ten cycles of those 5 minutes instead of all landing on one.

Usage::

    tick = cycle_tick(time.time(), interval_seconds=30)
    is_due("test_checkout.py::test_pay", period_seconds=300, interval_seconds=30, tick=tick)
    next_due_tick("test_checkout.py::test_pay", 300, 30, tick)     # the first tick after ``tick`` it runs in
"""

from __future__ import annotations

import math
import zlib

# A period is a whole multiple of the interval when it is within this share of one.
MULTIPLE_TOLERANCE = 1e-6
# The longest period the shipped rules judge: their longest window (6 hours) must hold a run.
MAX_PERIOD_SECONDS = 6 * 3600.0


def cycle_tick(now: float, interval_seconds: float) -> int:
    """The number of the cycle that starts at ``now`` on the wall clock."""
    return round(now / interval_seconds)


def cycles_per_period(period_seconds: float, interval_seconds: float) -> int | None:
    """How many of the runner's cycles one period spans; None when the period is no whole multiple of them."""
    ratio = period_seconds / interval_seconds
    whole = round(ratio)
    if whole < 1 or not math.isclose(ratio, whole, rel_tol=MULTIPLE_TOLERANCE):
        return None
    return whole


def period_problem(period_seconds: float, interval_seconds: float) -> str:
    """Why ``period_seconds`` cannot be a journey's interval under a runner of ``interval_seconds``, or ''."""
    if cycles_per_period(period_seconds, interval_seconds) is None:
        return f"must be a whole multiple of the runner's --interval ({interval_seconds:g} s), got {period_seconds:g}"
    if period_seconds > MAX_PERIOD_SECONDS:
        return (
            f"must be at most {MAX_PERIOD_SECONDS:g} s (6 h), the longest the alert rules judge a journey over, "
            f"got {period_seconds:g}"
        )
    return ""


def _offset(journey: str, cycles: int) -> int:
    return zlib.crc32(journey.encode("utf-8", "surrogateescape")) % cycles


def is_due(journey: str, period_seconds: float, interval_seconds: float, tick: int | None) -> bool:
    """Whether the journey runs in cycle ``tick`` (None: a cycle that runs every journey, as ``--once`` does)."""
    cycles = cycles_per_period(period_seconds, interval_seconds)
    if tick is None or cycles is None or cycles == 1:
        return True  # a period that is no multiple fails the journey in setup: it has to run to say so
    return tick % cycles == _offset(journey, cycles)


def next_due_tick(journey: str, period_seconds: float, interval_seconds: float, tick: int) -> int:
    """The first cycle after ``tick`` in which the journey runs."""
    cycles = cycles_per_period(period_seconds, interval_seconds) or 1
    return tick + 1 + (_offset(journey, cycles) - (tick + 1)) % cycles
