"""The wall clock set back and forward an hour under a running runner: cycles go on, /healthz stays 200, and
no hour of grid points counts as skipped, as the schedule keeps to the monotonic clock.

The runner runs under libfaketime (LD_PRELOAD, inherited by the forkserver and every cycle's processes),
which offsets the wall clock (``time.time()``) by what a file says, read again on every call; the monotonic
clock is left alone (FAKETIME_DONT_FAKE_MONOTONIC=1). libfaketime 0.9.10 (Debian 12) breaks ``time.sleep``
under Python 3.11 and later all the same: its clock_nanosleep shifts the monotonic deadline Python passes by
the wall clock's offset, and the kernel answers EINVAL (libfaketime issue 426, fixed in 0.9.11). So the runner's
processes here get a ``time.sleep`` that waits on a lock with a timeout instead, which libfaketime leaves alone.
"""

from __future__ import annotations

import glob
import os
import time
from pathlib import Path

import pytest
import requests

from tests.processes import metric, scrape, wait_for
from tests.reliability.support import OK_JOURNEY, Runner, running, write

pytestmark = [pytest.mark.slow, pytest.mark.reliability]

LIBFAKETIME_PATTERNS = (  # the MT build: the runner has threads
    "/usr/lib/*/faketime/libfaketimeMT.so.1",  # Debian's multiarch folder
    "/usr/lib/faketime/libfaketimeMT.so.1",
    "/usr/local/lib/faketime/libfaketimeMT.so.1",
)
INTERVAL_SECONDS = 1.0
# Back an hour; forward an hour, to the true time; forward another hour, past the time the runner started at.
OFFSETS = {"-1h": -3600.0, "+0": 0.0, "+1h": 3600.0}
CYCLES_PER_STEP = 3
STEP_TIMEOUT_SECONDS = 60.0
OFFSET_TOLERANCE_SECONDS = 600.0  # far below the hour a jump moves the clock, far above any delay
# Loaded by every Python process of the runner (PYTHONPATH): time.sleep that libfaketime 0.9.10 cannot break.
SLEEP_WORKAROUND = """\
import threading
import time


def _sleep(seconds):
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    threading.Event().wait(seconds)


time.sleep = _sleep
"""


def libfaketime() -> str:
    """The path of libfaketimeMT.so.1; in CI a missing one fails the test, elsewhere it skips it."""
    found = sorted(path for pattern in LIBFAKETIME_PATTERNS for path in glob.glob(pattern))
    if not found:
        if os.environ.get("CI"):
            pytest.fail("libfaketime is missing in CI; .ci/run installs the Debian package libfaketime")
        pytest.skip("libfaketime not installed (Debian package libfaketime)")
    return found[0]


class FakedWallClock:
    """The offset libfaketime applies to the runner's wall clock, set by rewriting its timestamp file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.site = write(path.parent / "faketime-site", {"sitecustomize.py": SLEEP_WORKAROUND})
        self.set("+0")

    def set(self, offset: str) -> None:
        # Atomically: libfaketime reads the file on every call, and must never see it half written.
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        temporary.write_text(f"{offset}\n")
        os.replace(temporary, self.path)

    def env(self) -> dict[str, str]:
        return {
            "LD_PRELOAD": libfaketime(),
            "FAKETIME_TIMESTAMP_FILE": str(self.path),
            "FAKETIME_NO_CACHE": "1",  # a new offset applies at once, not after the 10 s default cache
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(self.site), os.environ.get("PYTHONPATH")])),
        }


def runner_wall_offset(runner: Runner) -> float:
    """How far the runner's wall clock is from ours: /api/results says when the runner thinks it is."""
    generated_at = requests.get(f"{runner.url}/api/results", timeout=5).json()["generated_at"]
    return float(generated_at) - time.time()


def count(runner: Runner, status: str) -> float:
    return metric(scrape(runner.url), "synthetic_runs_total", status=status) or 0.0


def cycles_go_on(runner: Runner, offset: str) -> None:
    """Wait for more completed cycles; fail at once on a /healthz other than 200 or a cycle that failed."""
    target = runner.completed() + CYCLES_PER_STEP
    errors = count(runner, "error")

    def done() -> bool:
        runner.track()
        health = requests.get(f"{runner.url}/healthz", timeout=5)
        assert health.status_code == 200, f"wall clock {offset}: /healthz answered {health.status_code} {health.text}"
        if count(runner, "error") > errors:
            problems = [event.get("problem") for event in runner.events("journey suite could not run")]
            raise AssertionError(f"wall clock {offset}: a cycle failed: {problems[-1:]}")
        return runner.completed() >= target

    wait_for(done, STEP_TIMEOUT_SECONDS, f"{CYCLES_PER_STEP} more completed cycles with the wall clock {offset}")


def test_setting_the_wall_clock_back_and_forward_an_hour_neither_stops_nor_skips_cycles(tmp_path: Path) -> None:
    clock = FakedWallClock(tmp_path / "faketime.rc")
    folder = write(tmp_path / "journeys", {"test_ok.py": OK_JOURNEY})
    started = time.monotonic()
    with running(tmp_path, folder, "--interval", str(INTERVAL_SECONDS), env=clock.env()) as runner:
        runner.wait_cycles(2)
        for offset, seconds in OFFSETS.items():
            clock.set(offset)
            # The jump must have reached the runner, or this test would prove nothing.
            assert abs(runner_wall_offset(runner) - seconds) < OFFSET_TOLERANCE_SECONDS, offset
            cycles_go_on(runner, offset)
            # No more grid points can have been skipped than have passed since the start, on a true clock.
            skipped = count(runner, "skipped")
            passed = (time.monotonic() - started) / INTERVAL_SECONDS
            assert skipped <= passed, f"wall clock {offset}: {skipped} ticks skipped in {passed:.0f} intervals"
