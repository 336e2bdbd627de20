"""15. CPU per check against blackbox_exporter: one HTTP request to the same target, probed and as a journey.

Debian's `prometheus-blackbox-exporter` with an `http_2xx` module probes a target on loopback, `/probe` asked
again and again over one kept-alive connection: its process's CPU per probe (psutil), the asking client's not
counted. The runner runs journeys of one GET of the same target in a serving runner, `--workers 0`: the CPU
of its whole process tree per cycle, after its first cycle, as a monitor runs (the slope between a small and a
large number of journeys).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psutil
import requests

from bench.support import Section, SlowTarget, environment_for, median
from tests.processes import free_port

TARGET_RATIO = 2.0
CYCLE_SECONDS_PER_JOURNEY = 0.008  # the interval: several times a one-request journey's time with --workers 0
POLL_SECONDS = 0.05
REAP_SECONDS = 0.3
BINARY = "prometheus-blackbox-exporter"
CONFIG = """
modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
"""
# A journey as users write them: the `http` fixture (timeout, identity headers, phases, certificates, spans).
FIXTURE = """
    def test_journey_{n}(http):
        assert http.get(URL + "/j/{n}").status_code == 200
"""
# The same request through requests alone, no fixture.
PLAIN = """
    def test_journey_{n}():
        assert requests.get(URL + "/j/{n}", timeout=5).status_code == 200
"""
HEADER = 'import os\n\nimport requests\n\nURL = os.environ["TARGET_URL"]\n'


def write(folder: Path, template: str, count: int, per_file: int = 20) -> Path:
    folder.mkdir(parents=True)
    for start in range(0, count, per_file):
        body = "".join(textwrap.dedent(template).format(n=n) for n in range(start, min(count, start + per_file)))
        (folder / f"test_journeys_{start:05d}.py").write_text(HEADER + body)
    return folder


def probes_cpu(target: str, count: int) -> float:
    """blackbox_exporter's CPU seconds per probe of ``target``, over ``count`` probes after a warm-up."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "blackbox.yml"
        config.write_text(CONFIG)
        argv = [BINARY, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}"]
        exporter = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}/probe"
            params = {"target": f"{target}/j/probe", "module": "http_2xx"}
            with requests.Session() as client:
                deadline = time.monotonic() + 10
                while True:
                    try:
                        client.get(url, params=params, timeout=5)
                        break
                    except requests.ConnectionError:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.05)
                for _ in range(min(200, count)):  # its first probes: allocations, the Go runtime's warm-up
                    client.get(url, params=params, timeout=5)
                process = psutil.Process(exporter.pid)
                before = sum(process.cpu_times()[:2])
                for _ in range(count):
                    answer = client.get(url, params=params, timeout=5)
                    assert "probe_success 1" in answer.text, answer.text[-500:]
                return (sum(process.cpu_times()[:2]) - before) / count
        finally:
            exporter.terminate()
            exporter.wait(10)


def tree_cpu(runner: psutil.Process) -> float:
    """User + system CPU of the runner's process tree so far, ended cycles (reaped by the forkserver) included."""
    total = 0.0
    for process in (runner, *runner.children(recursive=True)):
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def wait_for_write(path: Path, after: float, limit: float) -> float:
    """The modification time of ``path`` once it is later than ``after`` (the runner wrote it after a cycle)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            written = path.stat().st_mtime
        except FileNotFoundError:
            written = 0.0
        if written > after:
            time.sleep(REAP_SECONDS)  # the ended cycle reaped, its CPU counted in its parent's
            return written
        time.sleep(POLL_SECONDS)
    raise TimeoutError(f"no cycle ended within {limit:g} s")


def cycle_cpu(folder: Path, target: str, cycles: int, interval: float) -> float:
    """CPU seconds of one cycle over ``folder`` in a serving runner (``--workers 0``), its whole process tree:
    the median of ``cycles`` cycles after the first, as a monitor runs them (start-up and the first cycle's
    compiling of the journeys excluded)."""
    with tempfile.TemporaryDirectory() as tmp:
        written = Path(tmp) / "synthetic.prom"
        argv = [sys.executable, "-m", "runner", "--workers", "0", "--journeys", str(folder), "--max-journeys", "100000"]
        argv += ["--interval", f"{interval:g}", "--port", str(free_port()), "--metrics-file", str(written)]
        runner = psutil.Popen(argv, env=environment_for(target), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            limit = 10 * interval + 60
            last = wait_for_write(written, 0.0, limit)
            before, spent = tree_cpu(runner), []
            for _ in range(cycles):
                last = wait_for_write(written, last, limit)
                after = tree_cpu(runner)
                spent.append(after - before)
                before = after
            return median(spent)
        finally:
            runner.terminate()
            runner.wait(30)


def per_journey(tmp: Path, name: str, template: str, sizes: tuple[int, int], cycles: int, target: str) -> float:
    """The slope: a cycle's CPU per journey between a small and a large number of journeys."""
    small, large = sizes
    few, many = write(tmp / f"{name}-few", template, small), write(tmp / f"{name}-many", template, large)
    interval = max(2.0, large * CYCLE_SECONDS_PER_JOURNEY)  # longer than a cycle, even on a busy machine; the
    # same for both, so the runner's CPU between cycles weighs the same in each
    return (cycle_cpu(many, target, cycles, interval) - cycle_cpu(few, target, cycles, interval)) / (large - small)


def run(smoke: bool) -> Section:
    if shutil.which(BINARY) is None:
        raise RuntimeError(f"{BINARY} is not installed (Debian package prometheus-blackbox-exporter)")
    small, large, probes, reps, cycles = (10, 40, 50, 1, 2) if smoke else (100, 1000, 3000, 3, 5)
    target = SlowTarget(0.0)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            rows, figures = [], {}
            probe = median([probes_cpu(target.url, probes) for _ in range(reps)])
            for name, template in (("the `http` fixture", FIXTURE), ("`requests.get`", PLAIN)):
                sizes = (small, large)
                figures[name] = per_journey(Path(tmp), name[:8].strip("`"), template, sizes, cycles, target.url)
            rows.append(["blackbox_exporter, per probe (its process)", f"{probe * 1000:.2f}", "1.00"])
            for name, seconds in figures.items():
                rows.append(
                    [
                        f"a journey through {name} (the runner's process tree)",
                        f"{seconds * 1000:.2f}",
                        f"{seconds / probe:.2f}",
                    ]
                )
    finally:
        target.close()
    ratio = figures["the `http` fixture"] / probe
    return Section(
        "15. CPU per check against blackbox_exporter",
        f"One GET of a target on loopback that answers at once. blackbox_exporter (Debian's, module `http_2xx`): "
        f"{probes} probes after a warm-up, its process's CPU (user + system) per probe, median of {reps} runs. "
        f"The runner: a serving runner (`--workers 0`, an interval longer than a cycle) on {small} and on {large} "
        f"journeys of one such request, CPU of the whole process tree per cycle, median of {cycles} cycles after the "
        "first (start-up and the first cycle's compiling of the journeys excluded); the difference per journey "
        "(the cycle's fixed part excluded). Milliseconds of CPU.",
        ["check", "ms of CPU", "against blackbox_exporter"],
        rows,
        [
            f"a journey through the `http` fixture: {ratio:.2f} times blackbox_exporter's CPU per probe (target: "
            f"at most {TARGET_RATIO:.1f}): " + ("met" if ratio <= TARGET_RATIO else "missed")
        ],
    )
