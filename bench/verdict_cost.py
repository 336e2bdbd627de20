"""11. What the verdict costs per journey: classifying a failure, finding the fixture that blocked it, judging a pass.

The verdict's functions are timed where they run, inside a real pytest session, on the live objects the
journey plugin hands them: each failing journey's exception (a refused connection on loopback, an error status
raised by requests, an assertion, a chained exception), each blocked journey's item with its fixture's cached
failure, each passing journey's duration. A whole-process A/B could not see 0.1 ms in a journey's 3 ms.
"""

from __future__ import annotations

import socket
import tempfile
import textwrap
import time
from collections.abc import Callable, Generator
from pathlib import Path

import pytest

from bench.support import Section, median
from runner.journey import verdict

TARGET_MS = 0.1
SUITE = """
    import pytest
    import requests

    CLOSED = "http://127.0.0.1:{port}/"

    @pytest.fixture(scope="session")
    def signed_in():
        requests.get(CLOSED, timeout=2)

    @pytest.mark.parametrize("n", range({count}))
    def test_refused(n):
        requests.get(CLOSED, timeout=2)

    @pytest.mark.parametrize("n", range({count}))
    def test_error_status(n):
        answer = requests.Response()
        answer.status_code, answer.url = 503, CLOSED
        answer.raise_for_status()

    @pytest.mark.parametrize("n", range({count}))
    def test_assertion(n):
        assert n < 0

    @pytest.mark.parametrize("n", range({count}))
    def test_chained(n):
        try:
            requests.get(CLOSED, timeout=2)
        except requests.ConnectionError as error:
            raise RuntimeError("booking failed") from error

    @pytest.mark.parametrize("n", range({count}))
    def test_blocked(signed_in, n):
        pass

    @pytest.mark.parametrize("n", range({count}))
    @pytest.mark.degraded_after(1.0)
    def test_passing(n, step):
        with step("search", degraded_after=1.0):
            pass
"""


class Timer:
    """Times each verdict function ``repeat`` times per call, on the objects of the call pytest just made."""

    def __init__(self, repeat: int) -> None:
        self.repeat = repeat
        self.seconds: dict[str, list[float]] = {}

    def _time(self, what: str, work: Callable[[], object]) -> None:
        started = time.process_time()
        for _ in range(self.repeat):
            work()
        self.seconds.setdefault(what, []).append((time.process_time() - started) / self.repeat)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        name = item.name.partition("[")[0]
        if report.failed and call.excinfo is not None:
            exc, when = call.excinfo.value, call.when
            if when == "setup":
                self._time("a blocked journey: its fixture, found", lambda: verdict.blocking_fixture(item, exc))
            else:
                self._time(f"a failure: classify ({name})", lambda: verdict.failure_reason(exc, when))
        elif report.when == "teardown" and report.passed and name == "test_passing":
            self._time("a pass: judge it degraded or not", lambda: verdict.degraded_message(0.01, 1.0, []))
        return report


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run(smoke: bool) -> Section:
    count, repeat = (5, 100) if smoke else (50, 1000)
    timer = Timer(repeat)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "test_verdicts.py").write_text(textwrap.dedent(SUITE).format(port=closed_port(), count=count))
        pytest.main([str(folder), "-q", "-p", "no:cacheprovider", "-p", "no:randomly"], plugins=[timer])
    rows = []
    for what, seconds in sorted(timer.seconds.items()):
        rows.append([what, str(len(seconds)), f"{median(seconds) * 1e6:.1f}", f"{max(seconds) * 1e6:.1f}"])
    worst_ms = max(median(seconds) for seconds in timer.seconds.values()) * 1000
    verdict_line = "met" if worst_ms < TARGET_MS else "missed"
    return Section(
        "11. What the verdict costs",
        f"Each verdict function timed inside a real pytest session on the live objects of {count} journeys of each "
        f"kind (CPU time, {repeat} calls per journey, median and maximum over the journeys). A journey pays one "
        "of these rows: a failure is classified once (a blocked one is looked up in its fixture's cache instead), "
        "a pass is judged once.",
        ["journey", "journeys", "median us of CPU", "max us"],
        rows,
        [f"the costliest, {worst_ms:.4f} ms of CPU per journey (target: under {TARGET_MS} ms): {verdict_line}"],
    )
