"""Shared by the reliability tests: a runner in its own TMPDIR, whose every descendant is tracked."""

from __future__ import annotations

import contextlib
import json
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from tests.processes import RunningProcess, metric, scrape, start_runner, wait_for

OK_JOURNEY = "def test_companion_is_fine():\n    pass\n"


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in files.items():
        (folder / name).write_text(textwrap.dedent(source))
    return folder


@dataclass
class Runner:
    process: RunningProcess
    url: str
    tmpdir: Path
    seen: set[int] = field(default_factory=set)

    def completed(self) -> float:
        return metric(scrape(self.url), "synthetic_runs_total", status="completed") or 0.0

    def wait_cycles(self, count: float, timeout: float = 90) -> None:
        def done() -> bool:
            self.track()
            return self.completed() >= count

        wait_for(done, timeout, f"{count} completed cycles")

    def track(self) -> None:
        """Remember every descendant seen, to check later that none outlived the runner."""
        with contextlib.suppress(psutil.NoSuchProcess):
            self.seen.update(p.pid for p in psutil.Process(self.process.popen.pid).children(recursive=True))

    def events(self, name: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.process.output().splitlines() if f'"event": "{name}"' in line]


@contextmanager
def running(tmp_path: Path, journeys: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[Runner]:
    """A runner with TMPDIR of its own; on exit: stopped, and nothing it started or wrote is left."""
    tmpdir = tmp_path / "runner-tmp"
    tmpdir.mkdir()
    process, url = start_runner(
        tmp_path, "--journeys", str(journeys), *args, env={"TMPDIR": str(tmpdir), **(env or {})}
    )
    runner = Runner(process, url, tmpdir)
    try:
        yield runner
    finally:
        runner.track()
        assert process.stop() == 0
    alive = []
    for pid in runner.seen:
        with contextlib.suppress(psutil.NoSuchProcess):
            alive.append(psutil.Process(pid))
    # Killed processes take a moment to go (one may have just touched 300 MB); none may stay.
    _, lingering = psutil.wait_procs(alive, timeout=10)
    leftovers = [(p.pid, p.cmdline()) for p in lingering if p.status() != psutil.STATUS_ZOMBIE]
    assert leftovers == [], f"processes left behind: {leftovers}"
    assert list(tmpdir.iterdir()) == [], f"temporary files left behind: {list(tmpdir.iterdir())}"
