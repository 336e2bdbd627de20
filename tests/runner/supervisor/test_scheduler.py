"""The fixed-rate clock: ticks stay on the monotonic t0 + k * interval grid whatever the ticks cost and
whatever the wall clock does; grid points it cannot fire on time are counted as missed."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from runner.supervisor.scheduler import FixedRateScheduler

INTERVAL = 10.0
HOUR = 3600.0


class FakeTime:
    """Both clocks, moved by the test: ``advance`` passes time, ``set_wall`` only sets the wall clock."""

    def __init__(self) -> None:
        self.now = 5_000.0  # monotonic: seconds since some boot
        self.wall_offset = 1_700_000_000.0 - self.now

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.now + self.wall_offset

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def set_wall(self, jump_seconds: float) -> None:
        self.wall_offset += jump_seconds


class FakeStop(threading.Event):
    """A stop event whose wait passes fake time instead of real time (plus a stall, once, if asked)."""

    def __init__(self, clock: FakeTime) -> None:
        super().__init__()
        self.clock = clock
        self.stall_seconds = 0.0

    def wait(self, timeout: float | None = None) -> bool:
        assert timeout is not None and timeout > 0, "the scheduler waits only for a tick that is due later"
        self.clock.advance(timeout + self.stall_seconds)
        self.stall_seconds = 0.0
        return self.is_set()


class Recorder:
    """Runs a scheduler on fake time until ``ticks`` ticks fired; ``during_tick(k)`` runs inside tick k."""

    def __init__(self, ticks: int, during_tick: Callable[[int], None] = lambda k: None) -> None:
        self.clock = FakeTime()
        self.stop = FakeStop(self.clock)
        self.missed: list[int] = []
        self.scheduler = FixedRateScheduler(
            INTERVAL, self.on_tick, self.missed.append, monotonic=self.clock.monotonic, wall=self.clock.wall
        )
        self.ticks = ticks
        self.during_tick = during_tick
        self.fired: list[tuple[int, float]] = []  # (tick, monotonic time it fired)
        self.logged: list[float] = []  # grid_time(k) as the monitor logs it, read when tick k fires

    def on_tick(self, tick: int) -> None:
        self.fired.append((tick, self.clock.monotonic()))
        self.logged.append(self.scheduler.grid_time(tick))
        self.during_tick(tick)
        if len(self.fired) >= self.ticks:
            self.stop.set()

    def run(self) -> Recorder:
        self.scheduler.run(self.stop)
        return self

    def offsets(self) -> list[float]:
        """How far each tick fired from its grid point, on the monotonic clock."""
        t0 = self.fired[0][1]
        return [when - (t0 + tick * INTERVAL) for tick, when in self.fired]


def test_first_tick_fires_at_once() -> None:
    recorder = Recorder(1)
    started = recorder.clock.monotonic()
    recorder.run()
    assert recorder.fired == [(0, started)]


def test_ticks_do_not_drift_by_the_time_each_tick_takes() -> None:
    recorder = Recorder(12)
    recorder.during_tick = lambda k: recorder.clock.advance(0.6 * INTERVAL)
    recorder.run()
    # A clock counting from the end of each tick would be 11 * 0.6 intervals late by now.
    assert [tick for tick, _ in recorder.fired] == list(range(12))
    assert recorder.offsets() == [0.0] * 12
    assert recorder.missed == []


def test_grid_points_passed_during_a_long_tick_are_reported_missed() -> None:
    recorder = Recorder(3)
    recorder.during_tick = lambda k: recorder.clock.advance(2.5 * INTERVAL if k == 0 else 0.0)
    recorder.run()
    # Tick 0 ran past grid points 1 and 2: both are missed, and tick 3 fires on its grid point, not 2.5 + 1.
    assert recorder.missed == [2]
    assert [tick for tick, _ in recorder.fired] == [0, 3, 4]
    assert recorder.offsets() == [0.0, 0.0, 0.0]


def test_a_gap_in_the_monotonic_clock_counts_the_grid_points_it_swallowed_as_missed() -> None:
    # The process did not run for 10.5 intervals (stopped, or starved of CPU) while it waited for tick 2.
    recorder = Recorder(4)
    recorder.during_tick = lambda k: setattr(recorder.stop, "stall_seconds", 10.5 * INTERVAL if k == 1 else 0.0)
    recorder.run()
    ticks = [tick for tick, _ in recorder.fired]
    # Tick 2 fires late, once; grid points 3..12 passed meanwhile and are missed; tick 13 is on the grid.
    assert ticks == [0, 1, 2, 13]
    assert recorder.missed == [10]
    assert recorder.offsets()[3] == 0.0


@pytest.mark.parametrize("jump_seconds", [-HOUR, HOUR], ids=["back an hour", "forward an hour"])
def test_setting_the_wall_clock_neither_stops_nor_skips_ticks(jump_seconds: float) -> None:
    steady = Recorder(8).run()
    jumped = Recorder(8)
    jumped.during_tick = lambda k: jumped.clock.set_wall(jump_seconds) if k == 3 else None
    jumped.run()
    assert jumped.fired == steady.fired  # the same ticks at the same monotonic times
    assert jumped.missed == steady.missed == []


def test_grid_time_is_the_unix_time_a_tick_was_due_on_the_wall_clock_of_the_moment() -> None:
    recorder = Recorder(6)
    recorder.during_tick = lambda k: recorder.clock.set_wall(-HOUR) if k == 2 else None
    recorder.run()
    wall_at_start = recorder.logged[0]
    # Ticks fire on time, so each logged grid time is the wall time at which it fired: one interval apart,
    # and after the clock was set back an hour, an hour earlier than before.
    assert recorder.logged[:3] == [wall_at_start + k * INTERVAL for k in range(3)]
    assert recorder.logged[3:] == [wall_at_start - HOUR + k * INTERVAL for k in range(3, 6)]


def test_a_late_tick_logs_the_grid_time_it_was_due_so_its_start_lag_shows() -> None:
    recorder = Recorder(2)
    recorder.during_tick = lambda k: setattr(recorder.stop, "stall_seconds", 0.5 * INTERVAL if k == 0 else 0.0)
    recorder.run()
    assert recorder.offsets() == [0.0, 0.5 * INTERVAL]
    wall_when_fired = recorder.clock.wall_offset + recorder.fired[1][1]
    assert wall_when_fired - recorder.logged[1] == 0.5 * INTERVAL  # the monitor logs this as start_lag_seconds


def test_stop_ends_the_wait_for_the_next_tick_without_waiting_for_it() -> None:
    fired = threading.Event()
    stop = threading.Event()
    scheduler = FixedRateScheduler(HOUR, lambda k: fired.set())  # the real clocks: tick 1 is an hour away
    thread = threading.Thread(target=scheduler.run, args=(stop,))
    thread.start()
    assert fired.wait(30)
    stop.set()
    thread.join(30)  # far less than the hour to tick 1: only stop can have ended the wait
    assert not thread.is_alive()


def test_runs_on_the_real_clocks_by_default() -> None:
    ticks: list[int] = []
    stop = threading.Event()

    def on_tick(tick: int) -> None:
        ticks.append(tick)
        if len(ticks) == 3:
            stop.set()

    thread = threading.Thread(target=FixedRateScheduler(0.05, on_tick).run, args=(stop,))
    thread.start()
    thread.join(30)
    assert not thread.is_alive()
    assert len(ticks) == 3 and ticks[0] == 0 and ticks == sorted(ticks)
