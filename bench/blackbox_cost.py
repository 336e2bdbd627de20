"""15. CPU per check against blackbox_exporter: one HTTP request to the same target, probed and as a journey.

Debian's `prometheus-blackbox-exporter` with an `http_2xx` module probes a target on loopback, `/probe` asked
again and again over one kept-alive connection: its process's CPU per probe (psutil), the asking client's not
counted. The runner runs journeys of one GET of the same target, `--once --workers 0`: the CPU of the whole
process tree per journey, start-up excluded (the slope between a small and a large number of journeys).
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

from bench.support import Section, SlowTarget, children_cpu_seconds, environment_for, median
from tests.processes import free_port

TARGET_RATIO = 2.0
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


def journeys_cpu(folder: Path, target: str) -> float:
    """CPU seconds of one ``--once --workers 0`` over ``folder``, the whole process tree."""
    argv = [sys.executable, "-m", "runner", "--once", "--workers", "0", "--journeys", str(folder)]
    before = children_cpu_seconds()
    done = subprocess.run([*argv, "--max-journeys", "100000"], env=environment_for(target), capture_output=True)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return children_cpu_seconds() - before


def per_journey(tmp: Path, name: str, template: str, small: int, large: int, reps: int, target: str) -> float:
    """The slope: CPU per journey between ``small`` and ``large`` journeys, runs taken in turn, median."""
    few, many = write(tmp / f"{name}-few", template, small), write(tmp / f"{name}-many", template, large)
    slopes = []
    for _ in range(reps):
        low, high = journeys_cpu(few, target), journeys_cpu(many, target)
        slopes.append((high - low) / (large - small))
    return median(slopes)


def run(smoke: bool) -> Section:
    if shutil.which(BINARY) is None:
        raise RuntimeError(f"{BINARY} is not installed (Debian package prometheus-blackbox-exporter)")
    small, large, probes, reps = (10, 40, 50, 1) if smoke else (100, 1000, 3000, 3)
    target = SlowTarget(0.0)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            rows, figures = [], {}
            probe = median([probes_cpu(target.url, probes) for _ in range(reps)])
            for name, template in (("the `http` fixture", FIXTURE), ("`requests.get`", PLAIN)):
                figures[name] = per_journey(Path(tmp), name[:8].strip("`"), template, small, large, reps, target.url)
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
        f"The runner: `--once --workers 0` on {small} and on {large} journeys of one such request, CPU of the whole "
        f"process tree; the difference per journey (start-up and collection's fixed part excluded), median of {reps} "
        "pairs taken in turn. Milliseconds of CPU.",
        ["check", "ms of CPU", "against blackbox_exporter"],
        rows,
        [
            f"a journey through the `http` fixture: {ratio:.2f} times blackbox_exporter's CPU per probe (target: "
            f"at most {TARGET_RATIO:.1f}): " + ("met" if ratio <= TARGET_RATIO else "missed")
        ],
    )
