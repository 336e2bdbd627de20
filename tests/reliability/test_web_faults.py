"""The runner's web surface under attack: slow clients, a flood of wrong passwords, links planted as screenshots."""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import ssl
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import bcrypt
import pytest
import requests

from tests.processes import RunningProcess, start, wait_for
from tests.reliability.support import running, write
from tests.runner.settings.test_web_config import self_signed

pytestmark = [pytest.mark.slow, pytest.mark.reliability]
USER, PASSWORD = "prometheus", "scrape-me-3d9a"
SLOW_CLIENTS = 200
ATTACK_SECONDS = 10.0
# The aim: /healthz in 100 ms, a scrape in 1 s. A busy CI machine gets generous bounds: any probe within 2 s and half
# of them within 0.5 s. Before the fix every probe timed out under slow clients, and took 2 s at bcrypt cost 12.
PROBE_BOUND_SECONDS = 2.0
MEDIAN_BOUND_SECONDS = 0.5
SECRET = "root:x:0:0:planted-secret-5e1b"


@dataclass
class Served:
    url: str
    process: RunningProcess
    verify: str | bool = False

    def get(self, path: str, auth: tuple[str, str] | None = None, timeout: float = 5) -> requests.Response:
        return requests.get(f"{self.url}{path}", auth=auth, verify=self.verify, timeout=timeout)


@contextmanager
def protected_runner(tmp_path: Path, tls: bool, cost: int = 10) -> Iterator[Served]:
    """A runner behind --web-config: basic auth (bcrypt ``cost``), TLS if asked; stopped (exit 0) afterwards."""
    folder = write(tmp_path / "journeys", {"test_ok.py": "def test_ok():\n    pass\n"})
    config = f"basic_auth_users:\n  {USER}: {bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(cost)).decode()}\n"
    cert = None
    if tls:
        cert, key = self_signed(tmp_path)
        config = f"tls_server_config:\n  cert_file: {cert.name}\n  key_file: {key.name}\n{config}"
    (tmp_path / "web.yml").write_text(config)
    argv = [sys.executable, "-m", "runner", "--port", "0", "--journeys", str(folder), "--interval", "5"]
    process = start([*argv, "--web-config", str(tmp_path / "web.yml")], tmp_path / "runner.log")
    try:
        url = process.wait_for_output(r'"url": "(https?://127\.0\.0\.1:\d+)"', timeout=60).group(1)
        yield Served(url, process, str(cert) if cert else False)
    finally:
        assert process.stop() == 0  # within its 10 s, attack or not


@dataclass
class Slowloris:
    """Clients that send a request head a line a second and never finish it; each one the server closes reconnects."""

    url: str
    count: int = SLOW_CLIENTS
    closed_by_server: list[float] = field(default_factory=list)  # seconds from its connect to the server's close
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self, seconds: float) -> None:
        clients = [self._connect() for _ in range(self.count)]
        end = time.monotonic() + seconds
        while time.monotonic() < end and not self._stop.wait(1):
            for index, client in enumerate(clients):
                clients[index] = self._trickle(client)
        for client in clients:
            if client is not None:
                client[0].close()

    def _connect(self) -> tuple[socket.socket, float] | None:
        host, port = self.url.split("://")[1].split(":")
        try:
            client = socket.create_connection((host, int(port)), timeout=5)
            if self.url.startswith("https"):
                context = ssl.create_default_context()
                context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
                client = context.wrap_socket(client)
            client.sendall(b"GET /metrics HTTP/1.1\r\nHost: m\r\n")
            client.settimeout(0)
            return client, time.monotonic()
        except OSError:
            return None

    def _trickle(self, client: tuple[socket.socket, float] | None) -> tuple[socket.socket, float] | None:
        if client is None:
            return self._connect()
        try:
            client[0].send(b"X-Slow: 1\r\n")
            with contextlib.suppress(BlockingIOError, ssl.SSLWantReadError):
                if client[0].recv(1) == b"":
                    raise ConnectionError
            return client
        except (OSError, ValueError):
            self.closed_by_server.append(time.monotonic() - client[1])
            client[0].close()
            return self._connect()


def timed(served: Served, path: str, auth: tuple[str, str] | None = None) -> float:
    started = time.monotonic()
    assert served.get(path, auth, timeout=PROBE_BOUND_SECONDS).status_code == 200, path
    return time.monotonic() - started


def probe_quickly(served: Served, seconds: float) -> None:
    """/healthz, and /metrics with credentials verified before, every 0.25 s for ``seconds``: each answered in time."""
    latencies: dict[str, list[float]] = {"/healthz": [], "/metrics": []}
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        latencies["/healthz"].append(timed(served, "/healthz"))
        latencies["/metrics"].append(timed(served, "/metrics", (USER, PASSWORD)))
        time.sleep(0.25)
    for path, values in latencies.items():
        print(f"{path}: median {statistics.median(values) * 1000:.1f} ms, max {max(values) * 1000:.1f} ms")
        assert max(values) < PROBE_BOUND_SECONDS and statistics.median(values) < MEDIAN_BOUND_SECONDS, path


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_healthz_and_a_scrape_answer_at_once_while_two_hundred_slow_clients_hold_connections(
    tmp_path: Path, tls: bool
) -> None:
    with protected_runner(tmp_path, tls) as served:
        assert served.get("/metrics", (USER, PASSWORD)).status_code == 200  # verified once: cached from now on
        attack = Slowloris(served.url)
        attacking = threading.Thread(target=attack.run, args=(ATTACK_SECONDS,))
        attacking.start()
        try:
            time.sleep(1)
            probe_quickly(served, ATTACK_SECONDS - 3)
        finally:
            attacking.join(ATTACK_SECONDS + 30)
        # A head that never ends is closed within the head timeout (5 s), a line a second or not.
        # Each trickles a line a second, which kept an idle timer from ever firing: only the head deadline closes
        # them within the attack. (When each client notices the close depends on the load, so no bound on that.)
        assert len(attack.closed_by_server) >= SLOW_CLIENTS / 2


def test_healthz_and_a_known_scraper_answer_at_once_while_wrong_passwords_flood_in(tmp_path: Path) -> None:
    with protected_runner(tmp_path, tls=False, cost=12) as served:
        assert served.get("/metrics", (USER, PASSWORD)).status_code == 200
        statuses: dict[int, set[str]] = {}
        end = time.monotonic() + ATTACK_SECONDS

        def guess() -> None:
            while time.monotonic() < end:
                with contextlib.suppress(requests.RequestException):
                    response = served.get("/metrics", (USER, secrets.token_hex(8)), timeout=30)
                    statuses.setdefault(response.status_code, set()).add(response.headers.get("Retry-After", ""))
                time.sleep(0.01)

        guessers = [threading.Thread(target=guess) for _ in range(16)]
        for guesser in guessers:
            guesser.start()
        try:
            time.sleep(1)
            probe_quickly(served, ATTACK_SECONDS - 3)
        finally:
            for guesser in guessers:
                guesser.join(60)
        assert 429 in statuses and all(0 < int(wait) <= 60 for wait in statuses[429])
        log = served.process.output()
    refused = [json.loads(line) for line in log.splitlines() if '"unauthorized request"' in line]
    assert len(refused) == 1 and refused[0]["reason"] == "wrong user name or password"  # not a line per attempt
    assert PASSWORD not in log


PLANTING_JOURNEYS = """
    import os
    import pytest

    SECRET = os.environ["PLANTED_SECRET_FILE"]
    PNG = b"\\x89PNG\\r\\n\\x1a\\n" + bytes(64)


    class Page:
        url = "http://127.0.0.1:9/book"

        def __init__(self, plant):
            self.plant = plant

        def screenshot(self, path, timeout):
            self.plant(path)


    @pytest.fixture
    def page(request):
        if "link" in request.node.name:
            return Page(lambda path: os.symlink(SECRET, path))
        return Page(lambda path: open(path, "wb").write(PNG))


    def test_screenshot(page):
        assert os.environ.get("PASS_NOW")


    def test_link(page):
        assert os.environ.get("PASS_NOW")
"""


def evidence(url: str) -> dict[str, list[dict[str, str]]]:
    journeys = requests.get(f"{url}/api/results", timeout=5).json()["journeys"]
    # By test name: "test_plant.py::test_link[chromium]" (pytest-playwright's id, when installed) is "test_link".
    return {journey["journey"].rpartition("::")[2].partition("[")[0]: journey["artifacts"] for journey in journeys}


def test_a_link_planted_as_a_screenshot_is_never_served_nor_kept_across_a_restart(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    folder = write(tmp_path / "journeys", {"test_plant.py": PLANTING_JOURNEYS})
    state = tmp_path / "state.json"
    env = {"PLANTED_SECRET_FILE": str(secret)}
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    with running(tmp_path / "first", folder, "--interval", "3600", "--state-file", str(state), env=env) as runner:
        shots = wait_for(lambda: (items := evidence(runner.url)).get("test_screenshot") and items, 90, "evidence")
        assert shots["test_link"] == [{"kind": "page", "url": "http://127.0.0.1:9/book"}]  # the link was not taken
        (kept,) = [item["url"] for item in shots["test_screenshot"] if item["kind"] == "screenshot"]
        shot = requests.get(f"{runner.url}{kept}", timeout=5)
        assert shot.status_code == 200 and shot.content.startswith(b"\x89PNG")
    stored = state.with_name(state.name + ".artifacts") / "files" / kept.removeprefix("/artifacts/")
    stored.unlink()
    stored.symlink_to(secret)  # the store's own file swapped for a link while the runner was down
    env["PASS_NOW"] = "1"  # the journeys pass from now on: a passing run keeps the evidence it had
    with running(tmp_path / "second", folder, "--interval", "3600", "--state-file", str(state), env=env) as runner:
        runner.wait_cycles(1)
        assert evidence(runner.url)["test_screenshot"] == []
        answer = requests.get(f"{runner.url}{kept}", timeout=5)
        assert answer.status_code == 404 and SECRET not in answer.text
    assert not stored.is_symlink() and secret.read_text() == SECRET
