"""Target faults: each is a failure with a clear reason, within a bounded time."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.processes import REPO_ROOT, free_port
from tests.reliability.support import write

pytestmark = [pytest.mark.slow, pytest.mark.reliability]
TIMEOUT = 1.0
JOURNEY = """
def test_target_answers(http, target_url):
    response = http.get(target_url + "/")
    assert response.status_code == 200, f"answered {response.status_code}"
"""


def once(
    tmp_path: Path, target_url: str, prefix: list[str] | None = None
) -> tuple[subprocess.CompletedProcess[str], float]:
    folder = write(tmp_path / "journeys", {"test_target.py": JOURNEY})
    shutil.copy(REPO_ROOT / "conftest.py", folder / "conftest.py")  # the real http fixture, as a user has it
    env = {**os.environ, "TARGET_URL": target_url, "SYNTHETIC_HTTP_TIMEOUT": str(TIMEOUT)}
    started = time.monotonic()
    result = subprocess.run(
        [*(prefix or []), sys.executable, "-m", "runner", "--once", "--journeys", str(folder), "--timeout", "10"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result, time.monotonic() - started


def failure_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stdout.splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith("FAILED"))
    return lines[index + 1].strip()


class Delayed(BaseHTTPRequestHandler):
    delay = 0.0

    def do_GET(self) -> None:
        time.sleep(self.delay)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def raw_server(on_connection: Callable[[socket.socket], None]) -> Iterator[str]:
    """A loopback listener handing each accepted connection to ``on_connection``; closes them all at the end."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connection = listener.accept()[0]
            except OSError:
                continue
            accepted.append(connection)
            on_connection(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        listener.close()


def _answer_garbage(connection: socket.socket) -> None:
    connection.recv(65536)
    connection.sendall(b"SURPRISE \x00\xff not http at all\r\n\r\n")
    connection.close()


@pytest.fixture
def silent_listener() -> Iterator[str]:
    """Accepts connections and never answers."""
    yield from raw_server(lambda connection: None)


@pytest.fixture
def garbage_server() -> Iterator[str]:
    """Answers every connection with bytes that are not HTTP."""
    yield from raw_server(_answer_garbage)


def test_connection_refused_fails_fast(tmp_path: Path) -> None:
    result, elapsed = once(tmp_path, f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert failure_line(result).startswith("network: requests.exceptions.ConnectionError")
    assert "Connection refused" in failure_line(result)
    assert elapsed < 10


def test_a_listener_that_never_answers_fails_at_the_request_timeout(tmp_path: Path, silent_listener: str) -> None:
    result, elapsed = once(tmp_path, silent_listener)
    assert result.returncode == 1
    assert failure_line(result).startswith("network: requests.exceptions.ReadTimeout")
    assert elapsed < 10


@pytest.mark.parametrize(("delay", "passes"), [(TIMEOUT * 0.6, True), (TIMEOUT * 1.5, False)])
def test_an_answer_just_under_the_timeout_passes_and_just_over_fails(
    tmp_path: Path, delay: float, passes: bool
) -> None:
    handler = type("Slow", (Delayed,), {"delay": delay})
    for url in serve(handler):
        result, elapsed = once(tmp_path, url)
    assert result.returncode == (0 if passes else 1), result.stdout
    if not passes:
        assert failure_line(result).startswith("network: requests.exceptions.ReadTimeout")
    assert elapsed < 15


def test_a_malformed_http_answer_is_a_failure_with_a_reason(tmp_path: Path, garbage_server: str) -> None:
    result, elapsed = once(tmp_path, garbage_server)
    assert result.returncode == 1
    line = failure_line(result)
    assert line.startswith("network: requests.exceptions.ConnectionError"), line
    assert "BadStatusLine" in line or "RemoteDisconnected" in line or "Connection aborted" in line
    assert elapsed < 10


def test_a_host_name_that_does_not_resolve_fails_fast(tmp_path: Path) -> None:
    # In a network namespace of its own (only a loopback, down), a lookup cannot leave this machine.
    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("cannot create a network namespace here (unshare -n)")
    result, elapsed = once(tmp_path, "http://reservations.synthetic-monitor.invalid:8080", prefix=[unshare, "-n"])
    assert result.returncode == 1, result.stdout + result.stderr
    line = failure_line(result)
    assert line.startswith("network: requests.exceptions.ConnectionError"), line
    assert "resolve" in line.lower() or "Name or service not known" in line or "NameResolution" in line
    assert elapsed < 15
