"""Each journey's hourly totals for 90 days (runs, failures, degraded, muted), and the uptime they give.

Uptime is the share of counted runs that passed: runs in a mute maintenance window are left out (and a paused
journey has no runs), a degraded run counts as passed. ``None`` where there were no counted runs.

The totals are up to four rings of 16-bit counters per journey, one slot an hour, shared hour by hour by every
journey; the failures, degraded and muted rings are made only once a journey has one. A journey that never
failed costs one ring: 2,160 hours x 2 bytes = 4.3 KB (docs/benchmarks.md, section 12).

Usage::

    uptime = Uptime()
    uptime.record(cycle_report, muted=frozenset(), at=time.time())
    uptime.summary(at=time.time())["test_a.py::test_b"]["24h"]    # 0.9986, or None without runs
    uptime.days("test_a.py::test_b", at=time.time())               # 90 (day, runs, failures, degraded, muted)
"""

from __future__ import annotations

import base64
import threading
import time
import zlib
from array import array
from collections.abc import Iterable, Mapping
from typing import Any

from runner.handoff.results import CycleReport, JourneyResult
from runner.record.document import SloEntry

HOURS_KEPT = 90 * 24
WINDOWS_HOURS = {"24h": 24, "7d": 7 * 24, "30d": 30 * 24, "90d": 90 * 24}
COUNTERS = ("runs", "failures", "degraded", "muted")  # runs and failures are counted runs: muted ones are apart
MAX_COUNT = 0xFFFF  # a slot saturates: 65,535 runs an hour is one every 55 ms
STATE_VERSION = 1
ZLIB_LEVEL = 1  # the fastest: a ring is mostly one value repeated, any level shrinks it a hundredfold


def hour_of(at: float) -> int:
    """The hour (since the epoch, UTC) that ``at`` falls in."""
    return int(at // 3600)


class _Rings:
    """One journey's four rings; a ring is None until the journey has a count of that kind."""

    __slots__ = ("rings",)

    def __init__(self) -> None:
        self.rings: list[array[int] | None] = [None] * len(COUNTERS)

    def add(self, slot: int, counter: int, count: int = 1) -> None:
        ring = self.rings[counter]
        if ring is None:
            ring = self.rings[counter] = array("H", bytes(2 * HOURS_KEPT))
        ring[slot] = min(MAX_COUNT, ring[slot] + count)

    def clear(self, slot: int) -> None:
        for ring in self.rings:
            if ring is not None:
                ring[slot] = 0

    def total(self, counter: int, slots: Iterable[slice]) -> int:
        ring = self.rings[counter]
        return 0 if ring is None else sum(sum(ring[part]) for part in slots)


class Uptime:
    """Every journey's hourly totals over the last 90 days, bounded whatever the runner's age."""

    def __init__(self) -> None:
        self._journeys: dict[str, _Rings] = {}
        self._suite = _Rings()  # every journey's counts together, kept as they are added
        self._hour: int | None = None  # the newest hour written; older slots hold the hours before it
        self._lock = threading.Lock()

    def record(self, cycle: CycleReport, muted: frozenset[str], at: float) -> None:
        """One cycle's runs, in the hour ``at`` falls in."""
        with self._lock:
            slot = self._advance(hour_of(at))
            for result in cycle.results:
                counters = _counters(result, result.journey in muted)
                rings = self._journeys.setdefault(result.journey, _Rings())
                for counter in counters:
                    rings.add(slot, counter)
                    self._suite.add(slot, counter)

    def forget_except(self, journeys: set[str]) -> None:
        """Drop the totals of journeys gone from a clean collection (deleted or renamed)."""
        with self._lock:
            for gone in self._journeys.keys() - journeys:
                del self._journeys[gone]

    def summary(self, at: float) -> dict[str, dict[str, float | None]]:
        """Each journey's uptime over 24h, 7d, 30d and 90d, and the suite's under the key ``""``."""
        with self._lock:
            slots = {name: self._slices(hour_of(at), hours) for name, hours in WINDOWS_HOURS.items()}
            found = {journey: _shares(rings, slots) for journey, rings in self._journeys.items()}
            found[""] = _shares(self._suite, slots)
        return found

    def totals(self, journey: str, hours: int, at: float) -> tuple[int, int]:
        """The journey's counted runs and failures over the last ``hours`` hours."""
        with self._lock:
            rings = self._journeys.get(journey)
            if rings is None:
                return 0, 0
            parts = self._slices(hour_of(at), hours)
            return rings.total(0, parts), rings.total(1, parts)

    def days(self, journey: str, at: float, count: int = 90) -> list[tuple[int, int, int, int, int]]:
        """The journey's (``""``: the suite's) last ``count`` UTC days, oldest first: (day since the epoch, runs,
        failures, degraded, muted); a day before the runner kept anything has zeros."""
        today = hour_of(at) // 24
        with self._lock:
            rings = self._suite if journey == "" else self._journeys.get(journey)
            out = []
            for day in range(today - count + 1, today + 1):
                parts = self._slices(min(hour_of(at), day * 24 + 23), 24, start=day * 24)
                totals = [0, 0, 0, 0] if rings is None else [rings.total(c, parts) for c in range(len(COUNTERS))]
                out.append((day, *totals))
        return out  # type: ignore[return-value]

    def state(self) -> dict[str, Any]:
        """The totals as the state file keeps them: each ring's bytes in base64, and the newest hour."""
        with self._lock:
            return {
                "version": STATE_VERSION,
                "hour": self._hour,
                "suite": _encoded(self._suite),
                "journeys": {journey: _encoded(rings) for journey, rings in self._journeys.items()},
            }

    def restore(self, state: object, at: float) -> None:
        """Totals a state file kept; damaged ones raise ValueError saying what is wrong."""
        if state is None:
            return
        if not isinstance(state, Mapping) or not isinstance(state.get("journeys"), Mapping):
            raise ValueError("uptime: must be an object with 'journeys'")
        hour = state.get("hour")
        if hour is not None and not isinstance(hour, int):
            raise ValueError(f"uptime: 'hour' must be a whole number, got {hour!r}")
        journeys = {str(journey): _decoded(encoded, journey) for journey, encoded in state["journeys"].items()}
        suite = _decoded(state.get("suite", [None] * len(COUNTERS)), "the suite")
        with self._lock:
            self._journeys, self._suite, self._hour = journeys, suite, hour
            self._advance(hour_of(at))  # hours that passed while the runner was down hold nothing

    def _advance(self, hour: int) -> int:
        """Move the rings on to ``hour`` (clearing the slots of hours that passed), and return its slot."""
        if self._hour is None or hour - self._hour >= HOURS_KEPT:
            if self._hour is not None:
                for rings in [*self._journeys.values(), self._suite]:
                    rings.rings = [None] * len(COUNTERS)
            self._hour = hour
        elif hour > self._hour:
            for passed in range(self._hour + 1, hour + 1):
                for rings in [*self._journeys.values(), self._suite]:
                    rings.clear(passed % HOURS_KEPT)
            self._hour = hour
        return hour % HOURS_KEPT

    def _slices(self, newest: int, hours: int, start: int | None = None) -> list[slice]:
        """The ring slices of the ``hours`` hours up to ``newest`` (or from ``start``), only those still kept."""
        if self._hour is None:
            return []
        newest = min(newest, self._hour)
        first = max(newest - hours + 1, self._hour - HOURS_KEPT + 1, start if start is not None else -(2**62))
        if first > newest:
            return []
        low, high = first % HOURS_KEPT, newest % HOURS_KEPT
        if newest - first + 1 >= HOURS_KEPT:
            return [slice(0, HOURS_KEPT)]
        return [slice(low, high + 1)] if low <= high else [slice(low, HOURS_KEPT), slice(0, high + 1)]


def _counters(result: JourneyResult, muted: bool) -> tuple[int, ...]:
    """Which counters one run adds to: muted, or a counted run that failed, was degraded or passed."""
    if muted:
        return (3,)
    if not result.passed:
        return (0, 1)
    return (0, 2) if result.degraded else (0,)


def _shares(rings: _Rings, slots: dict[str, list[slice]]) -> dict[str, float | None]:
    """The uptime over each window: the share of counted runs that did not fail."""
    shares: dict[str, float | None] = {}
    for name, parts in slots.items():
        runs, failures = rings.total(0, parts), rings.total(1, parts)
        shares[name] = (runs - failures) / runs if runs else None
    return shares


def _encoded(rings: _Rings) -> list[str | None]:
    """Each ring compressed (an hour's counts repeat: 4,320 bytes become a few dozen) and in base64."""
    return [
        None if ring is None else base64.b64encode(zlib.compress(ring.tobytes(), ZLIB_LEVEL)).decode()
        for ring in rings.rings
    ]


def _decoded(encoded: object, journey: object) -> _Rings:
    if not isinstance(encoded, list) or len(encoded) != len(COUNTERS):
        raise ValueError(f"uptime: journey {journey!r} must have {len(COUNTERS)} rings")
    rings = _Rings()
    rings.rings = [None if text is None else _ring(text, journey) for text in encoded]
    return rings


def _ring(text: object, journey: object) -> array[int]:
    if not isinstance(text, str):
        raise ValueError(f"uptime: journey {journey!r}: a ring must be base64 text or null")
    try:
        raw = zlib.decompress(base64.b64decode(text, validate=True))
    except (ValueError, zlib.error):
        raise ValueError(f"uptime: journey {journey!r}: a ring is not compressed base64") from None
    if len(raw) != 2 * HOURS_KEPT:
        raise ValueError(f"uptime: journey {journey!r}: a ring must hold {HOURS_KEPT} hours, got {len(raw) // 2}")
    ring = array("H")
    ring.frombytes(raw)
    return ring


# The SRE workbook's burn-rate pairs, as the page can judge them from hourly totals: (hours, burn rate).
FAST_BURN = ((1, 14.4), (6, 6.0))
SLOW_BURN = ((24, 3.0), (72, 1.0))


def slo_standing(uptime: Uptime, journey: str, objective: float, window_seconds: int) -> SloEntry:
    """How the journey's error budget stands by the runner's hourly totals (the alerts use Prometheus' finer
    windows): what is left of it over the SLO window, the last hour's burn rate, and a burn state."""
    now, allowed = time.time(), 1 - objective

    def burn(hours: int) -> float | None:
        runs, failures = uptime.totals(journey, hours, now)
        return failures / runs / allowed if runs else None

    spent = burn(window_seconds // 3600)
    state = "ok"
    if any((rate := burn(hours)) is not None and rate >= limit for hours, limit in FAST_BURN):
        state = "fast burn"
    elif any((rate := burn(hours)) is not None and rate >= limit for hours, limit in SLOW_BURN):
        state = "slow burn"
    return {
        "objective": objective,
        "window_seconds": window_seconds,
        "budget_left": None if spent is None else 1 - spent,
        "burn_rate_1h": burn(1),
        "state": state,
    }
