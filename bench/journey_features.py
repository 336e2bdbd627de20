"""9. What steps and retries cost per journey: the same journeys with and without them, in one run."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from bench.support import Section, children_cpu_seconds, median

STEPS_PER_JOURNEY = 5

PLAIN = """
    def test_journey_{n}():
        pass
"""
STEPPED = """
    def test_journey_{n}(step):
        for name in ("open", "log in", "search", "book", "log out"):
            with step(name):
                pass
"""
RETRIED = """
    def test_journey_{n}():
        marker = COUNTS / "{n}"
        first = not marker.exists()
        marker.touch()
        assert not first, "fails once"
"""


def write(folder: Path, template: str, count: int, per_file: int = 20) -> Path:
    """``count`` journeys, ``per_file`` to a file as in a real suite (pytest parses a failing test's file)."""
    folder.mkdir()
    header = f"from pathlib import Path\nCOUNTS = Path({str(folder / 'counts')!r})\n"
    (folder / "counts").mkdir()
    for start in range(0, count, per_file):
        body = "".join(textwrap.dedent(template).format(n=n) for n in range(start, min(count, start + per_file)))
        (folder / f"test_journeys_{start:04d}.py").write_text(header + body)
    return folder


def measure(folder: Path, *extra: str) -> tuple[float, float]:
    """CPU and wall seconds of one `--once` over ``folder``."""
    for marker in (folder / "counts").iterdir():
        marker.unlink()
    before = children_cpu_seconds()
    t0 = time.perf_counter()
    argv = [sys.executable, "-m", "runner", "--once", "--journeys", str(folder), "--max-journeys", "100000", *extra]
    done = subprocess.run(argv, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return children_cpu_seconds() - before, wall


def run(smoke: bool) -> Section:
    count, reps = (20, 1) if smoke else (400, 5)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        plain = write(Path(tmp) / "plain", PLAIN, count)
        stepped = write(Path(tmp) / "stepped", STEPPED, count)
        retried = write(Path(tmp) / "retried", RETRIED, count)
        cases: list[tuple[str, Path, tuple[str, ...]]] = [
            ("passing journeys (baseline)", plain, ()),
            ("with 5 steps each", stepped, ()),
            ("failing once, passing on a retry (--retries 1)", retried, ("--retries", "1")),
        ]
        cpu: dict[str, list[float]] = {name: [] for name, _, _ in cases}
        for _ in range(reps):  # in turn, so the machine's drift hits every case alike
            for name, folder, extra in cases:
                cpu[name].append(measure(folder, *extra)[0])
        base = median(cpu[cases[0][0]])
        for name, _, _ in cases:
            per_journey_ms = (median(cpu[name]) - base) / count * 1000
            rows.append([name, f"{median(cpu[name]):.3f}", "" if name == cases[0][0] else f"{per_journey_ms:+.3f}"])
    return Section(
        "9. What steps and retries cost",
        f"{count} journeys that do nothing else (20 to a file), run by `synthetic-monitor --once --workers 0`: "
        f"plain, with {STEPS_PER_JOURNEY} steps each, and failing once then passing with `--retries 1`. CPU "
        f"seconds of the whole process tree, median of {reps} runs taken in turn; the cost per journey is the "
        "difference from the baseline divided by the number of journeys.",
        ["journeys", "CPU s", "cost per journey, ms of CPU"],
        rows,
    )
