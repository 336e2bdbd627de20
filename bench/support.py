"""Shared pieces of the benchmarks: a target that answers after a set delay, journey files, statistics."""

from __future__ import annotations

import os
import re
import resource
import statistics
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests


@dataclass
class Section:
    """One benchmark's outcome: a table and the verdict on its target."""

    title: str
    text: str
    headers: list[str]
    rows: list[list[str]]
    verdicts: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [f"## {self.title}", "", self.text, "", "| " + " | ".join(self.headers) + " |"]
        lines.append("|" + "---|" * len(self.headers))
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        if self.verdicts:
            lines += [""] + [f"- {verdict}" for verdict in self.verdicts]
        return "\n".join(lines) + "\n"


class SlowTarget(ThreadingHTTPServer):
    """An HTTP target on 127.0.0.1 answering 200 after ``delay_seconds``; records its own handling times."""

    daemon_threads = True
    request_queue_size = 256

    def __init__(self, delay_seconds: float) -> None:
        self.delay_seconds = delay_seconds
        self.handling: dict[str, list[float]] = defaultdict(list)
        self.failing = False
        super().__init__(("127.0.0.1", 0), _Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.shutdown()
        self.server_close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (a stopped runner's worker) is no error of the target's."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: SlowTarget
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        started = time.perf_counter()
        if self.server.delay_seconds:
            time.sleep(self.server.delay_seconds)
        status = 500 if self.server.failing else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
        self.server.handling[self.path].append(time.perf_counter() - started)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def write_journeys(folder: Path, count: int, per_file: int = 20) -> Path:
    """``count`` journeys, each one GET of ``$TARGET_URL/j/<file>/<n>`` asserting 200."""
    folder.mkdir(parents=True, exist_ok=True)
    for start in range(0, count, per_file):
        lines = ["import os", "", "import requests", "", 'URL = os.environ["TARGET_URL"]', ""]
        for n in range(start, min(count, start + per_file)):
            lines += [
                f"def test_journey_{n:04d}():",
                f'    assert requests.get(f"{{URL}}/j/{n:04d}", timeout=5).status_code == 200',
                "",
            ]
        (folder / f"test_journeys_{start:04d}.py").write_text("\n".join(lines))
    return folder


def children_cpu_seconds() -> float:
    """User + system CPU of all children (and their waited-for descendants) of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    index = (len(ordered) - 1) * pct / 100
    low = int(index)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (index - low)


def spread(values: list[float], scale: float = 1.0, digits: int = 3) -> str:
    """'median (min-max)' of ``values`` times ``scale``."""
    scaled = [value * scale for value in values]
    return f"{median(scaled):.{digits}f} ({min(scaled):.{digits}f}-{max(scaled):.{digits}f})"


def failures_on_metrics(runner_url: str) -> float:
    """All failure observations on a runner's /metrics."""
    total = 0.0
    for line in requests.get(f"{runner_url}/metrics", timeout=5).text.splitlines():
        if line.startswith("synthetic_request_duration_count{") and 'result="failure"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


WRK_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def parse_wrk(output: str) -> dict[str, float]:
    """p50 and p99 (ms), requests, requests/s and failed requests (non-2xx and socket errors) from wrk --latency."""

    def latency(pct: str) -> float:
        match = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)$", output, re.MULTILINE)
        assert match, output
        return float(match.group(1)) * WRK_UNITS[match.group(2)]

    done = re.search(r"(\d+) requests in", output)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    assert done and rate, output
    non_2xx = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", output))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    kinds = ("connect", "read", "write", "timeout")
    errors = dict(zip(kinds, map(int, socket_errors.groups()), strict=True)) if socket_errors else {}
    failed = non_2xx + sum(errors.values())
    return {
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "requests": int(done.group(1)),
        "rate": float(rate.group(1)),
        "failed": failed,
        "non_2xx": non_2xx,
        **{f"socket_{kind}": count for kind, count in errors.items()},
    }


def environment_for(target_url: str) -> dict[str, str]:
    return {**os.environ, "TARGET_URL": target_url}
