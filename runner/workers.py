"""A pytest plugin that runs the collected journeys in forked worker processes and survives them dying.

It replaces ``pytest_runtestloop`` in the cycle's child process. Each worker is forked after collection,
runs the items it is handed through the normal ``pytest_runtest_protocol`` (so fixtures, pytest-timeout and
every other plugin behave as usual) and streams its reports back; the parent feeds them into its own hooks,
so pytest-json-report and the terminal see one ordinary session. A worker that dies mid-journey (``os._exit``,
a segfault) or overruns the timeout is recorded as a failed journey, and a fresh worker takes the rest.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import struct
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
from _pytest.reports import TestReport

from runner.report import CRASH_PREFIX, KILLED_PREFIX

KILL_GRACE_SECONDS = 2.0
HEARTBEAT_SECONDS = 0.5
LOOKAHEAD = 2  # items a worker holds: the one it runs and the next, so fixture scopes end at the right place
SHUTDOWN = -1
_HEADER = struct.Struct("!I")
_INDEX = struct.Struct("!i")
PHASES: tuple[Literal["setup", "call", "teardown"], ...] = ("setup", "call", "teardown")


@dataclass
class _Worker:
    pid: int
    tasks: int  # write end: item indices for the worker
    results: int  # read end: framed JSON messages from the worker
    assigned: deque[int] = field(default_factory=deque)
    current: int | None = None
    started: float = 0.0
    last_phase: str | None = None
    shutdown_sent: bool = False
    killed_for_timeout: bool = False


class WorkerPool:
    """Runs ``session.items`` in ``workers`` forked processes (at least one), dealing items out dynamically."""

    def __init__(
        self, workers: int, timeout_seconds: float, heartbeat: Path | None = None, max_journeys: int | None = None
    ) -> None:
        self.workers = max(1, workers)
        self.timeout_seconds = timeout_seconds
        self.heartbeat = heartbeat
        self.max_journeys = max_journeys
        self.over_cap = 0
        self._results_out: int | None = None  # set in a worker: where its reports go
        self._config: pytest.Config | None = None

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        """Run at most ``max_journeys``; the rest are deselected (no series) and counted in the report."""
        if self.max_journeys is not None and len(items) > self.max_journeys:
            dropped = items[self.max_journeys :]
            del items[self.max_journeys :]
            self.over_cap = len(dropped)
            config.hook.pytest_deselected(items=dropped)

    def pytest_json_modifyreport(self, json_report: dict[str, Any]) -> None:
        json_report["synthetic_over_cap"] = self.over_cap

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool:
        if session.testsfailed and not session.config.option.continue_on_collection_errors:
            raise session.Interrupted(f"{session.testsfailed} errors during collection")
        if session.config.option.collectonly or not session.items:
            return True
        _Dispatcher(self, session).run()
        return True

    def pytest_runtest_logreport(self, report: TestReport) -> None:
        if self._results_out is None or self._config is None:
            return
        report.sections = []  # captured output stays in the worker; the report omits it anyway
        data = self._config.hook.pytest_report_to_serializable(config=self._config, report=report)
        _send(self._results_out, {"type": "report", "data": data})

    def run_worker(self, session: pytest.Session, tasks: int, results: int) -> None:
        """The body of a forked worker: run the items handed to it, then exit without cleanup."""
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        self._results_out = results
        self._config = session.config
        queue: deque[int] = deque()
        shutdown = False
        items = session.items
        # A journey that changes the working directory or the environment must not change them for the
        # journeys that this worker runs after it.
        cwd, environ = os.getcwd(), dict(os.environ)
        try:
            while True:
                while not shutdown and len(queue) < LOOKAHEAD:
                    index = _receive_index(tasks)
                    shutdown = index == SHUTDOWN
                    if not shutdown:
                        queue.append(index)
                if not queue:
                    break
                index = queue.popleft()
                item = items[index]
                nextitem = items[queue[0]] if queue else None
                _send(results, {"type": "start", "index": index})
                item.config.hook.pytest_runtest_protocol(item=item, nextitem=nextitem)
                _restore(cwd, environ)
                _send(results, {"type": "finish", "index": index})
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)


class _Dispatcher:
    """The parent side: fork workers, deal items, relay reports, replace workers that die."""

    def __init__(self, pool: WorkerPool, session: pytest.Session) -> None:
        self.pool = pool
        self.session = session
        self.config = session.config
        self.pending: deque[int] = deque(range(len(session.items)))
        self.workers: dict[int, _Worker] = {}  # by results fd
        self.selector = selectors.DefaultSelector()
        self.next_heartbeat = 0.0

    def run(self) -> None:
        for _ in range(min(self.pool.workers, len(self.pending))):
            self._spawn()
        while self.workers:
            self._beat()
            for key, _ in self.selector.select(timeout=HEARTBEAT_SECONDS):
                if key.fd in self.workers:
                    self._read(self.workers[key.fd])
            self._reap_exited()
            self._kill_overdue()

    def _spawn(self) -> None:
        task_read, task_write = os.pipe()
        result_read, result_write = os.pipe()
        inherited = [fd for worker in self.workers.values() for fd in (worker.tasks, worker.results)]
        pid = os.fork()
        if pid == 0:  # the worker
            for fd in (task_write, result_read, *inherited):
                os.close(fd)
            self.selector = selectors.DefaultSelector()
            self.pool.run_worker(self.session, task_read, result_write)
        os.close(task_read)
        os.close(result_write)
        worker = _Worker(pid, task_write, result_read)
        self.workers[result_read] = worker
        self.selector.register(result_read, selectors.EVENT_READ)
        self._feed(worker)

    def _feed(self, worker: _Worker) -> None:
        while len(worker.assigned) < LOOKAHEAD and self.pending:
            index = self.pending.popleft()
            worker.assigned.append(index)
            _send_index(worker.tasks, index)
        if not self.pending and not worker.shutdown_sent:
            worker.shutdown_sent = True
            _send_index(worker.tasks, SHUTDOWN)

    def _read(self, worker: _Worker) -> None:
        message = _receive(worker.results)
        if message is None:
            self._worker_gone(worker)
            return
        self._handle(worker, message)

    def _reap_exited(self) -> None:
        """Notice workers that died while something they forked still holds their pipe open (no end of file)."""
        for worker in list(self.workers.values()):
            done, status = os.waitpid(worker.pid, os.WNOHANG)
            if done:
                for message in _drain(worker.results):
                    self._handle(worker, message)
                self._worker_gone(worker, status)

    def _handle(self, worker: _Worker, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "start":
            worker.current, worker.started, worker.last_phase = message["index"], time.monotonic(), None
            item = self.session.items[worker.current]
            self.config.hook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
        elif kind == "report":
            report = self.config.hook.pytest_report_from_serializable(config=self.config, data=message["data"])
            worker.last_phase = report.when
            self.config.hook.pytest_runtest_logreport(report=report)
        elif kind == "finish":
            self._finish(worker)
            self._feed(worker)

    def _finish(self, worker: _Worker) -> None:
        assert worker.current is not None
        item = self.session.items[worker.current]
        self.config.hook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
        worker.assigned.remove(worker.current)
        worker.current = None

    def _worker_gone(self, worker: _Worker, status: int | None = None) -> None:
        if status is None:
            status = _reap(worker.pid)
        self.selector.unregister(worker.results)
        os.close(worker.results)
        os.close(worker.tasks)
        del self.workers[worker.results]
        if worker.current is not None:
            self._report_lost(worker, status)
            self._finish(worker)
        # Items dealt to the dead worker but not started go back to the front of the line.
        self.pending.extendleft(reversed(worker.assigned))
        if self.pending:
            self._spawn()

    def _report_lost(self, worker: _Worker, status: int) -> None:
        assert worker.current is not None
        item = self.session.items[worker.current]
        if worker.killed_for_timeout:
            text = f"{KILLED_PREFIX} of {self.pool.timeout_seconds:g}s and its process was killed"
        else:
            text = f"{CRASH_PREFIX} ({describe_status(status)}) while it ran"
        phase = _next_phase(worker.last_phase)
        report = TestReport(
            nodeid=item.nodeid,
            location=item.location,
            keywords={name: 1 for name in item.keywords},
            outcome="failed",
            longrepr=text,
            when=phase,
            duration=time.monotonic() - worker.started,
        )
        self.config.hook.pytest_runtest_logreport(report=report)

    def _kill_overdue(self) -> None:
        limit = self.pool.timeout_seconds + KILL_GRACE_SECONDS
        now = time.monotonic()
        for worker in self.workers.values():
            if worker.current is not None and not worker.killed_for_timeout and now - worker.started > limit:
                worker.killed_for_timeout = True
                _kill(worker.pid)

    def _beat(self) -> None:
        now = time.monotonic()
        if self.pool.heartbeat is not None and now >= self.next_heartbeat:
            self.next_heartbeat = now + HEARTBEAT_SECONDS
            self.pool.heartbeat.touch()


def _restore(cwd: str, environ: dict[str, str]) -> None:
    with contextlib.suppress(OSError):
        if os.getcwd() != cwd:
            os.chdir(cwd)
    if os.environ != environ:
        os.environ.clear()
        os.environ.update(environ)


def describe_status(status: int) -> str:
    """A wait status in words: 'exit status 3' or 'signal 11 (SIGSEGV)'."""
    if os.WIFSIGNALED(status):
        return describe_signal(os.WTERMSIG(status))
    return f"exit status {os.waitstatus_to_exitcode(status)}"


def describe_signal(number: int) -> str:
    """'signal 9 (SIGKILL)'."""
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = "unknown"
    return f"signal {number} ({name})"


def _next_phase(last: str | None) -> Literal["setup", "call", "teardown"]:
    if last is None:
        return PHASES[0]
    return PHASES[min(PHASES.index(last) + 1, len(PHASES) - 1)]


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _reap(pid: int) -> int:
    """Wait for a worker that closed its pipe; kill it if it lingers."""
    deadline = time.monotonic() + KILL_GRACE_SECONDS
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.monotonic() > deadline:
            _kill(pid)
            return os.waitpid(pid, 0)[1]
        time.sleep(0.01)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks = []
    while size:
        chunk = os.read(fd, size)
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _send(fd: int, message: dict[str, Any]) -> None:
    payload = json.dumps(message, default=str).encode()
    _write_all(fd, _HEADER.pack(len(payload)) + payload)


def _receive(fd: int) -> dict[str, Any] | None:
    header = _read_exactly(fd, _HEADER.size)
    if header is None:
        return None
    payload = _read_exactly(fd, _HEADER.unpack(header)[0])
    return None if payload is None else json.loads(payload)


def _drain(fd: int) -> list[dict[str, Any]]:
    """The complete messages a dead worker left in its pipe, without waiting for more; a torn one is dropped."""
    os.set_blocking(fd, False)
    data = b""
    with contextlib.suppress(BlockingIOError):
        while chunk := os.read(fd, 65536):
            data += chunk
    messages = []
    while len(data) >= _HEADER.size:
        size = _HEADER.unpack(data[: _HEADER.size])[0]
        if len(data) < _HEADER.size + size:
            break
        messages.append(json.loads(data[_HEADER.size : _HEADER.size + size]))
        data = data[_HEADER.size + size :]
    return messages


def _send_index(fd: int, index: int) -> None:
    # A BrokenPipeError means the worker is gone; end of file on its results pipe says so.
    with contextlib.suppress(BrokenPipeError):
        _write_all(fd, _INDEX.pack(index))


def _receive_index(fd: int) -> int:
    data = _read_exactly(fd, _INDEX.size)
    return SHUTDOWN if data is None else int(_INDEX.unpack(data)[0])
