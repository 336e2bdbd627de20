"""The maintenance windows a runner keeps: those of ``--maintenance`` and the ad-hoc ones made over HTTP.

Thread-safe: the cycle thread asks what is in force, HTTP threads add and end ad-hoc windows. The ad-hoc ones
go into the state file (``state``/``restore``), so they survive a restart with ``--state-file``.

Usage::

    book = MaintenanceBook(settings.maintenance)
    window = book.add({"name": "hotfix", "duration": "30m", "mode": "mute"})    # MaintenanceError: one line
    book.in_force("test_pay.py::test_pay", {"team": "payments"}, now)            # -> (window, until) or None
    book.paused(now)                   # the selectors of the pause windows in force, for the cycle to skip
    book.end(window.id)
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from runner.settings import maintenance, maintenance_file
from runner.settings.maintenance import MaintenanceError, Selector, Window

UPCOMING_HORIZON_SECONDS = 7 * 86400.0
MAX_ADHOC_WINDOWS = 100  # ad-hoc windows at once: the API is for planned work, not a log


class MaintenanceBook:
    """The windows of the file (fixed) and the ad-hoc ones (added and ended at run time)."""

    def __init__(self, windows: tuple[Window, ...] = ()) -> None:
        self._file = windows
        self._adhoc: dict[str, Window] = {}
        self._lock = threading.Lock()

    def windows(self) -> list[Window]:
        """Every window: the file's, then the ad-hoc ones in the order they were made."""
        with self._lock:
            return [*self._file, *self._adhoc.values()]

    def add(self, body: object, now: datetime | None = None) -> Window:
        """An ad-hoc window from a ``POST /api/maintenance`` body; MaintenanceError says what is wrong with it."""
        now = now or datetime.now(UTC)
        window = maintenance_file.window_from_json(body, now, secrets.token_hex(6))
        with self._lock:
            self._drop_ended(now)
            if len(self._adhoc) >= MAX_ADHOC_WINDOWS:
                raise MaintenanceError(
                    f"there are already {MAX_ADHOC_WINDOWS} ad-hoc windows; end some (DELETE /api/maintenance/<id>)"
                )
            self._adhoc[window.id] = window
        return window

    def end(self, window_id: str) -> Window | None:
        """End an ad-hoc window; None when there is no such window (a file window cannot be ended here)."""
        with self._lock:
            return self._adhoc.pop(window_id, None)

    def in_force(self, journey: str, labels: Mapping[str, str], at: datetime) -> tuple[Window, datetime] | None:
        """The window in force for the journey at ``at`` and its end (a pause wins over a mute)."""
        return maintenance.in_force(self.windows(), journey, labels, at)

    def paused(self, at: datetime) -> tuple[Selector | None, ...]:
        """The journeys of the pause windows in force: their selectors (None: every journey)."""
        return tuple(window.journeys for window in self.windows() if window.mode == "pause" and window.occurrence(at))

    def upcoming(self, at: datetime) -> list[tuple[Window, datetime, datetime]]:
        """The occurrences in force or starting within a week, by start."""
        return maintenance.upcoming(self.windows(), at, UPCOMING_HORIZON_SECONDS)

    def state(self) -> list[dict[str, Any]]:
        """The ad-hoc windows, as the state file keeps them."""
        with self._lock:
            return [window.to_json() for window in self._adhoc.values()]

    def restore(self, items: object, now: datetime | None = None) -> None:
        """The ad-hoc windows a state file kept (those that have ended are dropped); MaintenanceError if damaged."""
        if items is None:
            return
        if not isinstance(items, list):
            raise MaintenanceError(f"maintenance state: must be a list of windows, got {type(items).__name__}")
        windows = [maintenance_file.window_from_state(item) for item in items]
        with self._lock:
            self._adhoc = {window.id: window for window in windows if window.id}
            self._drop_ended(now or datetime.now(UTC))

    def _drop_ended(self, now: datetime) -> None:
        for window_id, window in list(self._adhoc.items()):
            if window.occurrence(now) is None and window.next_start(now) is None:
                del self._adhoc[window_id]
