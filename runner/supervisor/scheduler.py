"""A fixed-rate clock on the monotonic clock: tick k fires at t0 + k * interval, with no drift.

The grid lives on ``time.monotonic()``, which only moves forward at a steady rate: setting the wall clock back
an hour (by hand, or NTP stepping it) does not stop the ticks, and setting it forward does not count an hour of
grid points as skipped. The wall clock is read only by ``grid_time``, which gives people a unix time for a grid
point in the logs. A tick is due at a grid point, not at the end of the previous one, so cycles never drift by
their own duration; grid points that pass while ``on_tick`` blocks, or while the process does not run at all,
go to ``on_missed``.

Usage::

    clock = FixedRateScheduler(interval_seconds=30, on_tick=lambda k: ..., on_missed=lambda count: ...)
    clock.run(stop_event)       # blocks; fires tick 0 at once, returns soon after stop_event is set
    clock.grid_time(k)          # unix time at which tick k was due, for the logs
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

Clock = Callable[[], float]


class FixedRateScheduler:
    """Calls ``on_tick(k)`` at t0 + k * interval; grid points it could not fire on time go to ``on_missed``."""

    def __init__(
        self,
        interval_seconds: float,
        on_tick: Callable[[int], None],
        on_missed: Callable[[int], None] = lambda count: None,
        *,
        monotonic: Clock = time.monotonic,
        wall: Clock = time.time,
    ) -> None:
        self.interval_seconds = interval_seconds
        self._on_tick = on_tick
        self._on_missed = on_missed
        self._monotonic = monotonic
        self._wall = wall
        self._t0 = monotonic()  # run() anchors the grid again when it starts

    def grid_time(self, tick: int) -> float:
        """Unix time at which tick ``tick`` is due: the wall clock now, less how long ago that was."""
        # Measured back from now on the monotonic clock, so a wall clock that was set since does not move it.
        due = self._t0 + tick * self.interval_seconds
        return self._wall() - (self._monotonic() - due)

    def run(self, stop: threading.Event) -> None:
        """Fire tick 0 now and every later tick on the grid, until ``stop`` is set."""
        self._t0 = self._monotonic()
        tick = 0
        while not stop.is_set():
            delay = self._t0 + tick * self.interval_seconds - self._monotonic()
            if delay > 0:
                stop.wait(delay)  # wakes at once when stop is set; the loop then checks the time again
                continue
            self._on_tick(tick)
            tick = self._next_tick(tick)

    def _next_tick(self, fired: int) -> int:
        """The first grid point still ahead after tick ``fired``; those that passed meanwhile are missed."""
        elapsed = self._monotonic() - self._t0
        upcoming = max(fired + 1, math.floor(elapsed / self.interval_seconds) + 1)
        if upcoming > fired + 1:
            self._on_missed(upcoming - fired - 1)
        return upcoming
