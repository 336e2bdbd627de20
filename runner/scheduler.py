"""A fixed-rate clock on top of ``schedule``: tick k fires at t0 + k * interval, with no drift.

``schedule`` computes a job's next run from the end of the previous one, so a plain ``every(n).seconds``
drifts by the job's duration and the loop's wake-up lag each time. Here the job only hands the tick over,
and after every run the job's next run is put back on the grid.

Usage::

    clock = FixedRateScheduler(interval_seconds=30, on_tick=lambda k: ...)
    clock.run(stop_event)       # blocks; fires tick 0 at once
"""

from __future__ import annotations

import datetime
import math
import threading
import time
from collections.abc import Callable

import schedule

MAX_SLEEP_SECONDS = 0.5


class FixedRateScheduler:
    """Calls ``on_tick(k)`` at t0 + k * interval; grid points it could not fire on time go to ``on_missed``."""

    def __init__(
        self,
        interval_seconds: float,
        on_tick: Callable[[int], None],
        on_missed: Callable[[int], None] = lambda count: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.interval_seconds = interval_seconds
        self._on_tick = on_tick
        self._on_missed = on_missed
        self._clock = clock
        self._scheduler = schedule.Scheduler()
        # schedule handles float intervals although its annotation says int.
        self._job = self._scheduler.every(interval_seconds).seconds.do(self._fire)  # type: ignore[arg-type]
        self._t0 = 0.0
        self._tick = 0
        self._next_on_grid: datetime.datetime | None = None
        self.last_loop = 0.0

    def grid_time(self, tick: int) -> float:
        """Unix time at which tick ``tick`` is due."""
        return self._t0 + tick * self.interval_seconds

    def run(self, stop: threading.Event) -> None:
        """Fire tick 0 now and every later tick on the grid, until ``stop`` is set."""
        self._t0 = self._clock()
        self._tick = 0
        self._job.next_run = self._as_datetime(self._t0)
        while not stop.is_set():
            self.last_loop = time.monotonic()
            self._scheduler.run_pending()
            if self._next_on_grid is not None:
                # schedule has just set next_run = end of job + interval; put it back on the grid.
                self._job.next_run, self._next_on_grid = self._next_on_grid, None
            idle = self._scheduler.idle_seconds
            stop.wait(min(MAX_SLEEP_SECONDS, max(0.0, idle if idle is not None else MAX_SLEEP_SECONDS)))

    def _fire(self) -> None:
        self._on_tick(self._tick)
        now = self._clock()
        upcoming = max(self._tick + 1, math.floor((now - self._t0) / self.interval_seconds) + 1)
        if upcoming > self._tick + 1:
            self._on_missed(upcoming - self._tick - 1)
        self._tick = upcoming
        self._next_on_grid = self._as_datetime(self.grid_time(upcoming))

    def _as_datetime(self, unix_time: float) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(unix_time)
