"""A pytest plugin that runs the collected journeys in forked worker processes and survives them dying.

It replaces ``pytest_runtestloop`` in the cycle's process (the controller). Each worker is forked after
collection, runs the items it is handed through the normal ``pytest_runtest_protocol`` (so fixtures,
pytest-timeout and every other plugin behave as usual) and sends back each journey's result in its final
form (``runner.cycle.recorder``). A worker that dies mid-journey (``os._exit``, a segfault, a signal to its own
process group) or overruns the timeout is recorded as a failed journey, and a fresh worker takes the rest.

Usage::

    pool = WorkerPool(workers=4, timeout_seconds=10, recorder=recorder)
    pytest.main(args, plugins=[recorder, pool])
    pool.results        # [(item index, JourneyResult), ...]
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import time
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from runner.cycle.dealing import Dealer
from runner.cycle.pipes import ATTEMPT, ERROR, LEAVE, RESULT, SHUTDOWN, STOP, FrameReader, send, send_indices
from runner.cycle.recorder import Recorder
from runner.cycle.worker import Worker, isolate
from runner.handoff import HEARTBEAT_SECONDS, KILL_GRACE_SECONDS, RunningBoard, describe_status, frequency
from runner.handoff.procs import kill_group
from runner.handoff.results import (
    CRASH_PREFIX,
    KILLED_PREFIX,
    FixtureTiming,
    JourneyResult,
    failure_message,
    journey_id,
)
from runner.settings.maintenance import Selector
from runner.settings.shard import EVERY_JOURNEY, Shard

GATHER_SECONDS = 0.002  # workers hold at least dealing.LOOKAHEAD items, so none waits for the controller meanwhile
# Signals a journey could send its parent (the controller), which ignores them; the runner stops a cycle with
# SIGKILL. Workers get the controller's own dispositions back.
SHIELDED_SIGNALS = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGALRM,
)


@dataclass
class _WorkerState:
    pid: int
    tasks: int  # write end: item indices for the worker
    reader: FrameReader  # read end: framed results from the worker
    assigned: deque[int] = field(default_factory=deque)  # dealt, not yet finished; the first one is running
    started: float = 0.0  # when the running journey started (the previous one finished)
    shutdown_sent: bool = False
    leaving: bool = False  # said it exits on purpose: what is still assigned was not started
    killed_for_timeout: bool = False
    retried: list[str] = field(default_factory=list)  # failure messages of the running journey's retried attempts
    slot: int = 0  # its place on the RunningBoard


class WorkerPool:
    """Runs ``session.items`` in ``workers`` forked processes (at least one), dealing items out dynamically."""

    def __init__(
        self,
        workers: int,
        timeout_seconds: float,
        recorder: Recorder,
        heartbeat: Path | None = None,
        *,
        board: Path | None = None,
        max_journeys: int | None = None,
        shard: Shard = EVERY_JOURNEY,
        tick: int | None = None,
        interval_seconds: float | None = None,
        paused: tuple[Selector | None, ...] = (),
    ) -> None:
        self.workers = max(1, workers)
        self.timeout_seconds = timeout_seconds
        self.recorder = recorder
        self.heartbeat = heartbeat
        self.board = board
        self.max_journeys = max_journeys
        self.shard = shard
        self.tick = tick  # the cycle's number: journeys with an interval of their own run when due
        self.interval_seconds = interval_seconds
        self.paused_by = paused  # the selectors of the pause windows in force (None: every journey)
        self.paused: list[str] = []
        self.over_cap = 0
        self.not_due = 0
        self.other_shards = 0
        self.results: list[tuple[int, JourneyResult]] = []
        self.fixtures: list[FixtureTiming] = []
        self.worker_results: int | None = None  # in a worker: where its messages go
        self.error = ""  # a hook that raised in a worker (pytest's INTERNALERROR under plain pytest), the first

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        """Run this shard's journeys, at most ``max_journeys``; the rest are deselected (no series) and counted."""
        if self.shard.count > 1:
            mine: list[pytest.Item] = []
            others: list[pytest.Item] = []
            for item in items:
                (mine if self.shard.owns(journey_id(item.nodeid, self.recorder.prefix)) else others).append(item)
            items[:] = mine
            self.other_shards = len(others)
            if others:
                config.hook.pytest_deselected(items=others)
        if self.max_journeys is not None and len(items) > self.max_journeys:
            dropped = items[self.max_journeys :]
            del items[self.max_journeys :]
            self.over_cap = len(dropped)
            config.hook.pytest_deselected(items=dropped)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """In a worker: an attempt that pytest-rerunfailures retries ends here; the next one's timeout starts."""
        if self.worker_results is not None and str(report.outcome) == "rerun":
            send(self.worker_results, (ATTEMPT, failure_message(report.longrepr)))

    def due(self) -> list[int]:
        """The indices of the collected journeys to run in this cycle: due by their interval, and not paused by a
        maintenance window. The others keep their series, unobserved."""
        recorder = self.recorder
        interval = self.interval_seconds
        labels = dict(recorder.labels)
        due = []
        for index, (journey, period) in enumerate(zip(recorder.collected, recorder.periods, strict=True)):
            if self._is_paused(journey, dict(labels.get(journey, ()))):
                self.paused.append(journey)
            elif period is None or interval is None or frequency.is_due(journey, period, interval, self.tick):
                due.append(index)
        self.not_due = len(recorder.collected) - len(due) - len(self.paused)
        return due

    def _is_paused(self, journey: str, labels: dict[str, str]) -> bool:
        return any(selector is None or selector.selects(journey, labels) for selector in self.paused_by)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool:
        if session.config.option.collectonly or not session.items:
            return True
        _Controller(self, session).run()
        return True


class _Controller:
    """The cycle's side: fork workers, deal items, collect results, replace workers that die."""

    def __init__(self, pool: WorkerPool, session: pytest.Session) -> None:
        self.pool = pool
        self.session = session
        self.ids = pool.recorder.collected
        self.dealer = Dealer(pool.due(), pool.workers)
        self.workers: dict[int, _WorkerState] = {}  # by results fd
        self.selector = selectors.DefaultSelector()
        self.next_heartbeat = 0.0
        self.board = RunningBoard(pool.board, pool.workers) if pool.board is not None else None
        self.free_slots = list(range(pool.workers - 1, -1, -1))  # a worker's place on the board
        self.maxfail = int(session.config.option.maxfail or 0)
        self.failures = 0
        self.shielded: dict[
            signal.Signals, Any
        ] = {}  # the signal handlers the controller had: its workers get them back

    def run(self) -> None:
        _make_basetemp(self.session.config)
        self.shielded = shielded = {sig: signal.signal(sig, signal.SIG_IGN) for sig in SHIELDED_SIGNALS}
        try:
            for _ in range(min(self.pool.workers, len(self.dealer.pending))):
                self._spawn()
            while self.workers:
                self._beat()
                ready = self.selector.select(timeout=HEARTBEAT_SECONDS)
                for key, _ in ready:
                    if key.fd in self.workers:
                        self._read(self.workers[key.fd])
                self._kill_overdue()
                if ready:
                    # Let results gather: a worker that writes while no one waits on its pipe wakes no one.
                    time.sleep(GATHER_SECONDS)
        finally:
            for sig, handler in shielded.items():
                signal.signal(sig, handler)

    def _spawn(self) -> None:
        task_read, task_write = os.pipe()
        result_read, result_write = os.pipe()
        inherited = [fd for worker in self.workers.values() for fd in (worker.tasks, worker.reader.fd)]
        slot = self.free_slots.pop()
        controller = os.getpid()
        try:
            with warnings.catch_warnings():  # Python 3.12+ warns about fork() when a plugin left a thread
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
        except OSError:
            for fd in (task_read, task_write, result_read, result_write):
                os.close(fd)
            self.free_slots.append(slot)
            raise
        if pid == 0:  # the worker
            for fd in (task_write, result_read, *inherited):
                os.close(fd)
            isolate(controller, self.shielded)
            Worker(
                self.pool.recorder,
                self.session,
                task_read,
                result_write,
                show=self._shower(slot),
                announce=self._announce,
            ).run()
        with contextlib.suppress(OSError):
            os.setpgid(pid, pid)  # the worker does it too: whichever runs first, no journey sees the old group
        os.close(task_read)
        os.close(result_write)
        worker = _WorkerState(pid, task_write, FrameReader(result_read), started=time.monotonic(), slot=slot)
        self.workers[result_read] = worker
        self.selector.register(result_read, selectors.EVENT_READ)
        self._feed(worker)

    def _announce(self, results: int) -> None:
        """In a worker: the pool's hooks (the ATTEMPT of a retry) send on this worker's result pipe."""
        self.pool.worker_results = results

    def _shower(self, slot: int) -> Callable[[str], None]:
        """How the worker of ``slot`` says which journey it runs."""
        board = self.board
        return (lambda journey: board.show(slot, journey)) if board is not None else (lambda journey: None)

    def _feed(self, worker: _WorkerState) -> None:
        if worker.shutdown_sent:
            return
        batch, last = self.dealer.deal(len(worker.assigned))
        worker.assigned.extend(batch)
        message = self.dealer.announce(batch)
        if last:
            worker.shutdown_sent = True
            message.append(SHUTDOWN)
        if message:
            send_indices(worker.tasks, message)

    def _read(self, worker: _WorkerState) -> None:
        worker.reader.fill()
        for message in worker.reader.messages():
            self._handle(worker, message)
        if worker.reader.closed:
            self._worker_gone(worker)

    def _handle(self, worker: _WorkerState, message: tuple[Any, ...]) -> None:
        if message[0] == RESULT:
            _, index, outcome, fixtures = message
            worker.assigned.remove(index)  # the first one: a worker runs its items in order
            worker.started, worker.retried = time.monotonic(), []
            if outcome is not None:
                result = JourneyResult.from_wire(self.ids[index], outcome)
                earlier, first = self.dealer.used(index)
                if earlier:  # attempts spent in workers that died before this one
                    result = replace(
                        result, attempts=result.attempts + earlier, first_failure=first or result.first_failure
                    )
                self._record(index, result)
            self.pool.fixtures.extend(FixtureTiming(*timing) for timing in fixtures)
            self._feed(worker)
        elif message[0] == ATTEMPT:
            worker.started = time.monotonic()  # a retry: the journey's timeout starts again
            worker.retried.append(message[1])
        elif message[0] == LEAVE:
            worker.leaving = True
            if message[1]:
                self._stop()
        elif message[0] == ERROR:  # pytest ends its session at an internal error, and so does the cycle
            self.pool.error = self.pool.error or message[1]
            self._stop()

    def _record(self, index: int, result: JourneyResult) -> None:
        self.pool.results.append((index, result))
        if not result.passed:
            self.failures += 1
            if self.maxfail and self.failures >= self.maxfail:
                self._stop()

    def _stop(self) -> None:
        """-x / --maxfail reached: no journey starts any more; those running finish (as with pytest-xdist)."""
        self.dealer.stop()
        for worker in self.workers.values():
            send_indices(worker.tasks, [STOP])

    def _worker_gone(self, worker: _WorkerState, status: int | None = None) -> None:
        worker.reader.drain()
        for message in worker.reader.messages():
            self._handle(worker, message)
        if status is None:
            status = _reap(worker.pid)
        self.selector.unregister(worker.reader.fd)
        os.close(worker.reader.fd)
        os.close(worker.tasks)
        del self.workers[worker.reader.fd]
        self._shower(worker.slot)("")
        self.free_slots.append(worker.slot)
        running = worker.assigned.popleft() if worker.assigned and not worker.leaving else None
        self.dealer.give_back(worker.assigned)  # dealt to it, not started: back to the front of the line
        if running is not None:
            self._lost(worker, running, status)
        if self.dealer.pending and len(self.workers) < self.pool.workers:
            self._spawn()

    def _lost(self, worker: _WorkerState, index: int, status: int) -> None:
        """The journey a dead worker was running: to the front of the line while it has retries, else a failure."""
        if worker.killed_for_timeout:
            reason, text = "timeout", f"{KILLED_PREFIX} of {self.pool.timeout_seconds:g}s and its process was killed"
        else:
            reason, text = "crash", f"{CRASH_PREFIX} ({describe_status(status)}) while it ran"
        used = len(worker.retried) + 1  # the retries its worker ran, and the attempt it died in
        first = worker.retried[0] if worker.retried else text
        if self.dealer.lost(index, used, first, self._retries(index)):
            return
        attempts, first = self.dealer.used(index)
        seconds = time.monotonic() - worker.started
        self._record(index, JourneyResult(self.ids[index], False, seconds, reason, text, (), attempts, first))

    def _retries(self, index: int) -> int:
        """How often a journey may run again: pytest-rerunfailures' count for it (--retries, its marker)."""
        config = self.session.config
        if not config.pluginmanager.hasplugin("rerunfailures"):
            return 0
        import pytest_rerunfailures  # noqa: PLC0415  (only when a worker died, only where the plugin is active)

        return int(pytest_rerunfailures.get_reruns_count(self.session.items[index]) or 0)

    def _kill_overdue(self) -> None:
        limit = self.pool.timeout_seconds + KILL_GRACE_SECONDS
        now = time.monotonic()
        for worker in list(self.workers.values()):
            if worker.assigned and not worker.killed_for_timeout and now - worker.started > limit:
                worker.reader.drain()  # a result that has just come in ends the overdue journey after all
                for message in worker.reader.messages():
                    self._handle(worker, message)
                if worker.assigned and time.monotonic() - worker.started > limit:
                    worker.killed_for_timeout = True
                    kill_group(worker.pid)

    def _beat(self) -> None:
        now = time.monotonic()
        if now < self.next_heartbeat:
            return
        self.next_heartbeat = now + HEARTBEAT_SECONDS
        if self.pool.heartbeat is not None:
            self.pool.heartbeat.touch()
        # A worker that died while something it forked still holds its pipe open gives no end of file.
        for worker in list(self.workers.values()):
            done, status = os.waitpid(worker.pid, os.WNOHANG)
            if done:
                self._worker_gone(worker, status)


def _make_basetemp(config: pytest.Config) -> None:
    """Make pytest's temporary base folder (``tmp_path``'s) once, before the workers fork.

    pytest empties a given ``--basetemp`` the first time a process asks for it: made in each worker, it would
    be deleted under the journeys of the others. Made here, every worker inherits it, and the numbered folders
    inside are made safely across processes.
    """
    factory = getattr(config, "_tmp_path_factory", None)  # absent under -p no:tmpdir
    if factory is not None:
        factory.getbasetemp()


def _reap(pid: int) -> int:
    """Wait for a worker that closed its pipe; kill it if it lingers."""
    deadline = time.monotonic() + KILL_GRACE_SECONDS
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.monotonic() > deadline:
            kill_group(pid)
            return os.waitpid(pid, 0)[1]
        time.sleep(0.01)
