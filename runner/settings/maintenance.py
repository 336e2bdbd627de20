"""Maintenance windows: when a journey is paused (not run at all) or muted (run and recorded, never alerting).

Usage::

    found = in_force(windows, "test_search_finds_a_room", {"team": "search"}, now)
    if found:
        window, until = found                           # window.mode is "pause" or "mute"
    soon = upcoming(windows, now, 86400)                # [(window, start, end)], by start

A window is a one-off (``start``/``end``, aware times) or recurring (a 5-field cron ``schedule`` in the window's
``timezone``, lasting ``duration_seconds`` of real time). Windows are read from the ``--maintenance`` file, a
``POST /api/maintenance`` body or the state file by ``runner.settings.maintenance_file``.

Daylight-saving changes (croniter 7 given aware times in the window's zone, which we rely on and test):
a local start time that does not exist (02:30 on the spring-forward Sunday in Europe/Berlin) starts at the first
minute after the gap (03:00 CEST), unless the hour field is a wildcard ("30 * * * *"), whose gap occurrence is
skipped. A local start time that happens twice (02:30 on the autumn Sunday) is yielded twice by croniter; we keep
only the first instant, as cron(8) runs a fixed-time job once, unless the hour field is a wildcard, where both
are real, distinct occurrences. A window always lasts its duration in real time, whatever the clocks do.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError, croniter

from runner.errors import ConfigError

MODES = ("pause", "mute")
# Occurrences walked to join those that overlap (a duration longer than the cron's period); one that always
# overlaps ("* * * * *" lasting 2m) is in force without end, and its span is cut after this many.
MAX_STEPS = 100
DEFAULT_UPCOMING_PER_WINDOW = 10


class MaintenanceError(ConfigError, ValueError):
    """A bad maintenance window: one line naming the window (or the request's field), the value and the fix."""


@dataclass(frozen=True, slots=True)
class Selector:
    """Which journeys a window covers: every label pair equal to the journey's, and the id matching a glob."""

    labels: tuple[tuple[str, str], ...] = ()
    match: str = ""

    def selects(self, journey: str, labels: Mapping[str, str]) -> bool:
        """True when every pair of ``labels`` is the journey's and ``match`` ("" for any) matches its id."""
        pairs = all(labels.get(key) == value for key, value in self.labels)
        return pairs and (not self.match or fnmatch.fnmatchcase(journey, self.match))

    def to_json(self) -> dict[str, Any]:
        return {"labels": dict(self.labels), "match": self.match}


@dataclass(frozen=True, slots=True)
class Window:
    """A one-off (``start``/``end``) or recurring (``schedule``, ``duration_seconds``, ``timezone``) window."""

    name: str
    mode: str
    journeys: Selector | None = None
    start: datetime | None = None
    end: datetime | None = None
    schedule: str = ""
    duration_seconds: float = 0.0
    timezone: str = "UTC"
    id: str = ""

    def occurrence(self, at: datetime) -> tuple[datetime, datetime] | None:
        """The (start, end) in force at ``at`` (start <= at < end), UTC, else None; overlapping occurrences
        of a recurring window count as one."""
        if not self.schedule:
            start, end = self._one_off()
            return (start, end) if start <= at < end else None
        return _span(self.schedule, self.timezone, self.duration_seconds, at)

    def next_start(self, at: datetime) -> tuple[datetime, datetime] | None:
        """The first occurrence starting after ``at``, or None (a one-off window that has started)."""
        if not self.schedule:
            start, end = self._one_off()
            return (start, end) if start > at else None
        current = self.occurrence(at)
        first = next(_starts(self.schedule, self.timezone, current[1] if current else at, backward=False), None)
        if first is None:
            return None
        return first, _joined_end(self.schedule, self.timezone, self.duration_seconds, first)

    def to_json(self) -> dict[str, Any]:
        """The window as JSON (the state file, /api/maintenance, /api/results); window_from_state reads it."""
        shape: dict[str, Any] = {
            "name": self.name,
            "mode": self.mode,
            "journeys": None if self.journeys is None else self.journeys.to_json(),
        }
        if self.schedule:
            shape.update(schedule=self.schedule, duration_seconds=self.duration_seconds, timezone=self.timezone)
        else:
            start, end = self._one_off()
            shape.update(start=iso(start), end=iso(end))
        return shape | ({"id": self.id} if self.id else {})

    def _one_off(self) -> tuple[datetime, datetime]:
        if self.start is None or self.end is None:
            raise ValueError(f"window {self.name!r} has neither a schedule nor both start and end")
        return self.start, self.end


def iso(moment: datetime) -> str:
    """An aware time as ISO 8601 in UTC with a Z: 2026-12-05T22:00:00Z."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def in_force(
    windows: Iterable[Window], journey: str, labels: Mapping[str, str], at: datetime
) -> tuple[Window, datetime] | None:
    """The window in force for the journey at ``at`` and its end: a pause wins over a mute, then the latest end."""
    best: tuple[tuple[bool, datetime], Window, datetime] | None = None
    for window in windows:
        if window.journeys is not None and not window.journeys.selects(journey, labels):
            continue
        span = window.occurrence(at)
        if span is not None and (best is None or (window.mode == "pause", span[1]) > best[0]):
            best = ((window.mode == "pause", span[1]), window, span[1])
    return None if best is None else (best[1], best[2])


def upcoming(
    windows: Iterable[Window], at: datetime, horizon_seconds: float, per_window: int = DEFAULT_UPCOMING_PER_WINDOW
) -> list[tuple[Window, datetime, datetime]]:
    """Occurrences in force at ``at`` or starting within ``horizon_seconds`` of it (``per_window`` at most
    of each window), by start."""
    limit = at + timedelta(seconds=horizon_seconds)
    found: list[tuple[Window, datetime, datetime]] = []
    for window in windows:
        span, count = window.occurrence(at) or window.next_start(at), 0
        while span is not None and span[0] <= limit and count < per_window:
            found.append((window, *span))
            span, count = window.next_start(span[1]), count + 1
    return sorted(found, key=lambda item: (item[1], item[2], item[0].name))


# --- recurring windows -------------------------------------------------------------------------------------------


@lru_cache(maxsize=1024)  # every journey of a cycle asks about the same windows at the same moment
def _span(schedule: str, zone: str, duration_seconds: float, at: datetime) -> tuple[datetime, datetime] | None:
    """The joined occurrences of a schedule in force at ``at``, else None."""
    length = timedelta(seconds=duration_seconds)
    # croniter's get_prev is strict: start a minute on, so that an occurrence starting at ``at`` is found.
    latest = next((start for start in _starts(schedule, zone, at + timedelta(minutes=1), True) if start <= at), None)
    if latest is None or latest + length <= at:
        return None  # an earlier occurrence, of the same length, ends earlier still
    first = latest
    for start in _starts(schedule, zone, latest, backward=True):
        if start + length < first:
            break
        first = start
    return first, _joined_end(schedule, zone, duration_seconds, latest)


def _joined_end(schedule: str, zone: str, duration_seconds: float, start: datetime) -> datetime:
    """The end of the occurrence starting at ``start``, joined with the later ones that start before it ends."""
    length = timedelta(seconds=duration_seconds)
    end = start + length
    for later in _starts(schedule, zone, start, backward=False):
        if later > end:
            break
        end = later + length
    return end


def _starts(schedule: str, zone: str, at: datetime, backward: bool) -> Iterator[datetime]:
    """The schedule's start instants (UTC) strictly after ``at`` (or before, ``backward``), nearest first."""
    tz = ZoneInfo(zone)
    hour_is_wildcard = schedule.split()[1].startswith("*")
    times = croniter(schedule, at.astimezone(tz))
    for _ in range(MAX_STEPS):
        try:
            start = (times.get_prev(datetime) if backward else times.get_next(datetime)).astimezone(UTC)
        except CroniterBadDateError:  # no match within the years croniter searches
            return
        if hour_is_wildcard or not _repeated(start, tz):
            yield start


def _repeated(moment: datetime, tz: ZoneInfo) -> bool:
    """True when ``moment`` is the second time its local wall-clock time happens (the hour a clock goes back)."""
    local = moment.astimezone(tz)  # fold is right here, computed from UTC; croniter's own fold is not reliable
    return local.fold == 1 and local.replace(fold=0).utcoffset() != local.utcoffset()
