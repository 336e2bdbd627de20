"""10. What a browser journey costs per cycle against an HTTP journey doing the same booking."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import psutil

from bench.support import Section, children_cpu_seconds, median
from runner.journey.browser import find_chromium
from scripts.stack import REPO_ROOT, start_target

HTTP = """
    def test_book_{n}(http, target_url):
        response = http.post(f"{{target_url}}/reservations", json={{"username": "synthetic", "party_size": 2}})
        assert response.status_code == 200
"""
BROWSER = """
    import re
    from playwright.sync_api import expect

    def test_book_{n}(page, target_url):
        page.goto(f"{{target_url}}/book")
        page.fill("#username", "synthetic")
        page.click("button[type=submit]")
        expect(page.locator("#result")).to_have_text(re.compile("^Booked: reservation"))
"""
# The same browser journeys with the Web Vitals measurement turned off, to see what it costs.
WITHOUT_VITALS = """
    from runner.journey import vitals

    vitals.observe = lambda context, node: None  # no script, no binding: nothing to collect
"""


def write(folder: Path, template: str, count: int, conftest: str = "") -> Path:
    folder.mkdir()
    for n in range(count):
        (folder / f"test_book_{n}.py").write_text(textwrap.dedent(template).format(n=n))
    if conftest:
        (folder / "conftest.py").write_text(textwrap.dedent(conftest))
    return folder


def measure(folder: Path, target: str) -> tuple[float, float, float]:
    """CPU seconds of the process tree, wall seconds and the tree's peak resident MiB for one `--once`."""
    before = children_cpu_seconds()
    peak = [0.0]
    argv = [sys.executable, "-m", "runner", "--once", "--journeys", str(folder), "--workers", "0"]
    started = time.perf_counter()
    process = subprocess.Popen(
        argv,
        cwd=REPO_ROOT,
        env={**os.environ, "TARGET_URL": target},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    done = threading.Event()

    def sample() -> None:
        root = psutil.Process(process.pid)
        while not done.wait(0.05):
            try:
                tree = [root, *root.children(recursive=True)]
                peak[0] = max(peak[0], sum(_rss(p) for p in tree) / 2**20)
            except psutil.Error:
                pass

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = process.communicate(timeout=600)
    done.set()
    sampler.join()
    wall = time.perf_counter() - started
    assert process.returncode == 0, output[-3000:]
    return children_cpu_seconds() - before, wall, peak[0]


def _rss(process: psutil.Process) -> int:
    """Proportional set size: a page shared by Chromium's processes counts once across them, not once each."""
    try:
        return int(process.memory_full_info().pss)
    except psutil.Error:
        return 0


def run(smoke: bool) -> Section:
    title = "10. What a browser journey costs"
    if find_chromium() is None:
        return Section(title, "Skipped: no Chromium (Debian package chromium).", ["-"], [])
    count, reps = (2, 1) if smoke else (10, 5)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        target, url = start_target(Path(tmp), "--faults", "none")
        try:
            http = write(Path(tmp) / "http", HTTP, count)
            browser = write(Path(tmp) / "browser", BROWSER, count)
            plain = write(Path(tmp) / "plain", BROWSER, count, WITHOUT_VITALS)
            results: dict[str, list[tuple[float, float, float]]] = {"http": [], "plain": [], "browser": []}
            for _ in range(reps):  # in turn, so the machine's drift hits each alike
                results["http"].append(measure(http, url))
                results["plain"].append(measure(plain, url))
                results["browser"].append(measure(browser, url))
        finally:
            target.stop()
            shutil.rmtree(Path(tmp) / "http", ignore_errors=True)
    base_cpu = median([cpu for cpu, _, _ in results["http"]])
    vitals_ms = (
        (median([c for c, _, _ in results["browser"]]) - median([c for c, _, _ in results["plain"]])) / count * 1000
    )
    vitals_wall_ms = (
        (median([w for _, w, _ in results["browser"]]) - median([w for _, w, _ in results["plain"]])) / count * 1000
    )
    labels = (
        ("http", "HTTP journeys (the `http` fixture)"),
        ("plain", "browser journeys (`page`), Web Vitals off"),
        ("browser", "browser journeys (`page`), Web Vitals measured"),
    )
    for name, label in labels:
        cpu = median([c for c, _, _ in results[name]])
        wall = median([w for _, w, _ in results[name]])
        peak = median([p for _, _, p in results[name]])
        rows.append(
            [
                label,
                f"{cpu:.2f}",
                f"{cpu / count * 1000:.0f}",
                "" if name == "http" else f"{(cpu - base_cpu) / count * 1000:+.0f}",
                f"{wall:.2f}",
                f"{peak:.0f}",
            ]
        )
    return Section(
        title,
        f"{count} journeys that each book a table on a real Reservations Service, once through the `http` fixture "
        "(one POST) and once through the service's booking page in the system's Chromium (load the page, fill the "
        "form, submit, wait for the answer; with its Web Vitals measured, and with that turned off by a conftest), "
        "run by `synthetic-monitor --once --workers 0`. Median of {reps} runs "
        "taken in turn. CPU: the whole process tree (runner, pytest, Playwright's driver, Chromium); peak memory: "
        "the whole tree's proportional set size (shared pages counted once), sampled every 50 ms. The browser "
        "starts once per worker (a session "
        "fixture), so its start is paid once per cycle, spread over the cycle's browser journeys.",
        ["journeys", "CPU s per cycle", "CPU ms per journey", "over HTTP, ms per journey", "wall s", "peak MiB"],
        rows,
        [
            f"measuring the Web Vitals (script, binding, the call's end asking each page) costs {vitals_ms:+.0f} ms of "
            f"CPU and {vitals_wall_ms:+.0f} ms of wall time per browser journey"
        ],
    )
