"""Real processes for tests: start on a free loopback port, wait until ready, always stop and reap."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_SECONDS = 20.0
POLL_SECONDS = 0.05


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> object:
    """Poll ``condition`` until it returns something truthy; fail the test with ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(POLL_SECONDS)


@dataclass
class RunningProcess:
    """A started process whose combined output goes to ``log_path``."""

    popen: subprocess.Popen[bytes]
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_output(self, pattern: str, timeout: float = READY_TIMEOUT_SECONDS) -> re.Match[str]:
        def found() -> re.Match[str] | None:
            if self.popen.poll() is not None:
                raise AssertionError(f"process exited {self.popen.returncode} early:\n{self.output()}")
            return re.search(pattern, self.output())

        return wait_for(found, timeout, f"{pattern!r} in {self.log_path}")  # type: ignore[return-value]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        return self.popen.returncode


def start(argv: Sequence[str], log_path: Path, env: dict[str, str] | None = None) -> RunningProcess:
    """Start ``argv`` in its own session (so a forgotten grandchild can be killed with it)."""
    log = log_path.open("wb")
    popen = subprocess.Popen(
        list(argv),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )
    log.close()
    return RunningProcess(popen, log_path)


def start_target(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[RunningProcess, str]:
    """Start the Reservations Service on a free port; return it and its base URL."""
    log_path = tmp_path / f"target-{len(list(tmp_path.glob('target-*.log')))}.log"
    process = start([sys.executable, "-m", "target_service", "--port", "0", *args], log_path, env)
    match = process.wait_for_output(r"listening on (http://127\.0\.0\.1:\d+)")
    return process, match.group(1)


def set_faults(base_url: str, body: dict[str, object], token: str | None = None) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = requests.put(f"{base_url}/admin/faults", json=body, headers=headers, timeout=5)
    response.raise_for_status()
