"""5. Memory: the runner's resident memory after 10 and after 1,000 cycles."""

from __future__ import annotations

import tempfile
import textwrap
from pathlib import Path

import psutil

from bench.support import Section, SlowTarget
from scripts.stack import start_runner, wait_for

# Passing, failing with a new message every time (history and logs must not grow), and parametrized.
JOURNEYS = """
    import os, time, pytest, requests

    URL = os.environ["TARGET_URL"]

    def test_passes():
        assert requests.get(URL + "/a", timeout=5).status_code == 200

    def test_fails_with_a_new_message_each_time():
        assert False, f"failure at {time.time()!r} " + "x" * 500

    @pytest.mark.parametrize("n", range(5))
    def test_parametrized(n):
        assert requests.get(f"{URL}/p/{n}", timeout=5).status_code == 200
"""


def run(smoke: bool) -> Section:
    first, last = (10, 40) if smoke else (10, 1000)
    target = SlowTarget(0.0)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "journeys"
            folder.mkdir()
            (folder / "test_memory.py").write_text(textwrap.dedent(JOURNEYS))
            process, _ = start_runner(
                Path(tmp), "--journeys", str(folder), "--interval", "0.1", env={"TARGET_URL": target.url}
            )
            runner = psutil.Process(process.popen.pid)
            try:

                def completed() -> int:
                    return process.output().count('"cycle completed"')

                wait_for(lambda: completed() >= first, 120, f"{first} cycles")
                rss_first = runner.memory_info().rss
                wait_for(lambda: completed() >= last, last * 0.5 + 120, f"{last} cycles")
                rss_last = runner.memory_info().rss
                cycles_done = completed()
            finally:
                process.stop()
    finally:
        target.close()
    growth = (rss_last - rss_first) / 2**20
    return Section(
        "5. Memory",
        "The runner process's resident memory (psutil) while it runs 7 journeys (one failing with a new 500-character "
        "message every cycle) at a 0.1 s interval; cycles run back to back.",
        ["after", "RSS MiB"],
        [[f"{first} cycles", f"{rss_first / 2**20:.1f}"], [f"{cycles_done} cycles", f"{rss_last / 2**20:.1f}"]],
        [
            f"growth from {first} to {cycles_done} cycles: {growth:+.1f} MiB (target: 5 MB or less): "
            + ("met" if growth * 1.048576 <= 5 else "missed")
        ],
    )
