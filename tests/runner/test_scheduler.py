"""The fixed-rate clock: ticks stay on the t0 + k * interval grid whatever the ticks cost."""

from __future__ import annotations

import threading
import time

from runner.scheduler import FixedRateScheduler

INTERVAL = 0.2


def run_for(ticks: int, work_seconds: float) -> tuple[list[float], list[int], FixedRateScheduler]:
    fired: list[float] = []
    missed: list[int] = []
    stop = threading.Event()

    def on_tick(k: int) -> None:
        fired.append(time.time())
        time.sleep(work_seconds)  # a slow hand-over must not push later ticks back
        if len(fired) >= ticks:
            stop.set()

    scheduler = FixedRateScheduler(INTERVAL, on_tick, missed.append)
    thread = threading.Thread(target=scheduler.run, args=(stop,))
    thread.start()
    thread.join(30)
    assert not thread.is_alive()
    return fired, missed, scheduler


def test_ticks_do_not_drift_by_the_time_each_tick_takes() -> None:
    fired, missed, scheduler = run_for(12, work_seconds=0.12)
    offsets = [fired[k] - scheduler.grid_time(k) for k in range(len(fired))]
    # A clock that counted from the end of each tick would be 11 * 0.12 s = 1.3 s late by now.
    assert max(offsets) < 0.3, offsets  # generous for a loaded machine, far below the 1.3 s of drift
    assert missed == []


def test_first_tick_fires_at_once() -> None:
    started = time.time()
    fired, _, _ = run_for(1, work_seconds=0.0)
    assert fired[0] - started < INTERVAL / 2


def test_grid_points_passed_during_a_long_tick_are_reported_missed() -> None:
    fired, missed, scheduler = run_for(3, work_seconds=0.5)
    assert sum(missed) >= 4  # each 0.5 s tick spans two further grid points
    # Even after missed points, the next tick is on the grid, not at end-of-tick + interval.
    for k, when in enumerate(fired):
        offset = (when - scheduler.grid_time(0)) % INTERVAL
        assert min(offset, INTERVAL - offset) < INTERVAL / 2, (k, offset)
