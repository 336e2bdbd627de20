"""13. What timing requests by phase costs: the ``http`` session with and without its phase timing.

The same requests to a server in another process on loopback, through the journey plugin's session as it was
(timeout and trace, urllib3's own connections) and as it is (the timed adapter and connections, the chain of an
HTTPS server read at each handshake), taken in turns. CPU time of the client's process only: the server's is
not in it.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from requests.adapters import HTTPAdapter
from urllib3 import poolmanager

from bench.support import Section, median
from runner.journey import certificates
from runner.journey.session import TracedSession
from scripts.stack import REPO_ROOT
from tests.certificates import issue, make_ca

TARGET_MS = 0.1
SERVER = """
import sys
from tests.certificates import Issued, LoopbackServer
from pathlib import Path
issued = Issued(Path(sys.argv[1]), Path(sys.argv[2]), 0.0) if len(sys.argv) > 1 else None
server = LoopbackServer(issued)
print(server.port, flush=True)
server.serve_forever()
"""


def _server(*args: str) -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen([sys.executable, "-c", SERVER, *args], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    return process, int(process.stdout.readline())


def _session(timed: bool) -> TracedSession:
    session = TracedSession(5.0)
    if not timed:  # the session before phases: requests' own adapters and urllib3's own pools, made once each
        for adapter in session.adapters.values():
            adapter.__class__ = HTTPAdapter
            adapter.poolmanager.pool_classes_by_scheme = dict(poolmanager.pool_classes_by_scheme)  # type: ignore[attr-defined]
    return session


class _Arm:
    """One way of making the requests: with phase timing or without, on a kept-alive or a new connection."""

    def __init__(self, timed: bool, url: str, ca: str, new_connection: bool, cold: bool = False) -> None:
        self.timed, self.url, self.ca, self.new_connection, self.cold = timed, url, ca, new_connection, cold
        self.session = _session(timed)
        self.session.get(url, verify=ca)  # the first connection and imports are not what is measured
        self.seconds: list[float] = []

    def request(self) -> None:
        """One request, its CPU time kept (a new session's making, for a new connection, included)."""
        if self.cold:  # as at a process's first connection to the host: the chain's decoding not yet cached
            certificates._CHAINS.clear()
        started = time.thread_time()
        if self.new_connection:
            self.session.close()
            self.session = _session(self.timed)
        self.session.get(self.url, verify=self.ca)
        self.seconds.append(time.thread_time() - started)


def _compare(count: int, url: str, ca: str, new_connection: bool, cold: bool) -> tuple[float, float, float]:
    """The median CPU time per request without and with phases, the two taking turns request by request, and the
    median of the paired differences (each turn's request with phases less its request without)."""
    before, after = _Arm(False, url, ca, new_connection, cold), _Arm(True, url, ca, new_connection, cold)
    for turn in range(count):
        first, second = (before, after) if turn % 2 else (after, before)
        first.request()
        second.request()
    for arm in (before, after):
        arm.session.close()
    paired = [with_phases - without for without, with_phases in zip(before.seconds, after.seconds, strict=True)]
    return median(before.seconds), median(after.seconds), median(paired)


def run(smoke: bool) -> Section:
    count = 20 if smoke else 2000
    with tempfile.TemporaryDirectory() as tmp:
        ca = make_ca(Path(tmp), "Bench CA", 30)
        issued = issue(Path(tmp), ca, 20)
        plain, plain_port = _server()
        tls, tls_port = _server(str(issued.cert), str(issued.key))
        try:
            cases = [
                ("HTTP, kept-alive connection", f"http://127.0.0.1:{plain_port}/page", False, False),
                ("HTTP, new connection (a name to resolve)", f"http://localhost:{plain_port}/page", True, False),
                ("HTTPS, kept-alive connection", f"https://localhost:{tls_port}/page", False, False),
                (
                    "HTTPS, new connection (handshake; its chain met earlier in the cycle or handed on by the runner)",
                    f"https://localhost:{tls_port}/page",
                    True,
                    False,
                ),
                (
                    "HTTPS, new connection, a chain the runner has not met yet (its first cycle, a new certificate)",
                    f"https://localhost:{tls_port}/page",
                    True,
                    True,
                ),
            ]
            rows, worst, first_contact = [], 0.0, 0.0
            for name, url, new_connection, cold in cases:
                before, after, cost = _compare(count, url, str(ca.cert), new_connection, cold)
                if cold:
                    first_contact = cost
                else:
                    worst = max(worst, cost)
                rows.append([name, f"{before * 1e6:.0f}", f"{after * 1e6:.0f}", f"{cost * 1e6:+.0f}"])
        finally:
            for process in (plain, tls):
                process.kill()
                process.wait()
    verdict = "met" if worst * 1000 < TARGET_MS else "missed"
    return Section(
        "13. What timing requests by phase costs",
        f"{count} GET requests of a small page to a server in another process on loopback through the `http` "
        "fixture's session without phase timing, and as many with it, taking turns request by request; the median "
        "CPU time of the client's thread per request (a new connection's includes making its session); the cost is "
        "the median of the paired differences, turn by turn.",
        ["requests", "without phases, us of CPU", "with phases, us", "cost, us"],
        rows,
        [
            f"the costliest request, once the runner has met its chain, adds {worst * 1000:.3f} ms of CPU (target: "
            f"under {TARGET_MS} ms): {verdict}",
            f"a chain the runner has not met yet adds {first_contact * 1000:.3f} ms (decoding each certificate of "
            "it), once per worker in the cycle that first meets it: the runner hands the chains it knows to the next "
            "cycle's workers",
        ],
    )
