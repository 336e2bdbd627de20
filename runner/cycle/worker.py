"""A worker: a process forked from the cycle's controller that runs the journeys it is dealt, one at a time.

It reads item indices from its task pipe, runs each through the normal ``pytest_runtest_protocol``, and sends
the journey's result in its final form (``JourneyResult.to_wire``) on its result pipe. It depends on nothing
of the controller's (``runner.cycle.workers``) but the pipes' messages.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from runner.cycle.dealing import LOOKAHEAD
from runner.cycle.pipes import ERROR, LEAVE, RESULT, RETRY, SHUTDOWN, STOP, FrameReader, send
from runner.cycle.recorder import Recorder
from runner.handoff.results import JourneyResult, session_error
from runner.journey import tracing
from runner.journey.plugin import TRACE_KEY

PR_SET_PDEATHSIG = 1


class Worker:
    """The worker's side: run the items handed over, send each result, leave when told or when pytest stops."""

    def __init__(
        self,
        recorder: Recorder,
        session: pytest.Session,
        tasks: int,
        results: int,
        *,
        show: Callable[[str], None],
        announce: Callable[[int], None],
    ) -> None:
        self.recorder = recorder
        self.announce = announce  # tells the pool's hooks in this process where this worker's messages go
        self.show = show  # says on the RunningBoard which journey runs
        self.session = session
        self.tasks = FrameReader(tasks)
        self.results = results
        self.queue: deque[int] = deque()
        self.shutdown = False
        self.reruns_left: dict[int, int] = {}  # journeys run again after a worker died: their remaining reruns
        self._retry: list[int] = []  # a RETRY announcement read so far, awaiting its numbers

    def run(self) -> None:
        pid = os.getpid()
        items, ids = self.session.items, self.recorder.collected
        # A journey that changes the working directory or the environment must not change them for the
        # journeys this worker runs after it.
        saved = Saved.take()
        self.announce(self.results)
        stop_session = False
        try:
            while not stop_session:
                self._receive(block=False)  # a STOP may have come in, even after SHUTDOWN
                while not self.shutdown and len(self.queue) < LOOKAHEAD:
                    self._receive(block=True)
                if not self.queue:
                    break
                index = self.queue.popleft()
                nextitem = items[self.queue[0]] if self.queue else None
                self.show(ids[index])
                self._run_one(index, nextitem)
                if os.getpid() != pid:
                    os._exit(0)  # a journey forked and its child came back into this loop: it leaves quietly
                result, fixtures = self.recorder.take(ids[index], items[index])
                outcome = result.to_wire() if result is not None else None
                send(self.results, (RESULT, index, outcome, [timing.to_wire() for timing in fixtures]))
                saved.restore()
                stop_session = bool(self.session.shouldfail or self.session.shouldstop)
            send(self.results, (LEAVE, stop_session))  # first: a teardown that crashes is no journey's
            with contextlib.suppress(Exception):
                self.session._setupstate.teardown_exact(None)  # when stopped early, as pytest does at the end
        finally:
            tracing.flush()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)

    def _run_one(self, index: int, nextitem: pytest.Item | None) -> None:
        """Run one item; a journey that stops pytest itself fails alone, and this worker leaves.

        An exception out of the protocol is no journey's (pytest turns each phase's into a report): a hook
        raised, an internal error that ends the cycle as it ends a pytest session.
        """
        item = self.session.items[index]
        if index in self.reruns_left:  # the closest flaky marker wins in pytest-rerunfailures
            item.add_marker(pytest.mark.flaky(reruns=self.reruns_left.pop(index)))
        started = time.perf_counter()
        try:
            item.config.hook.pytest_runtest_protocol(item=item, nextitem=nextitem)
        except (KeyboardInterrupt, pytest.exit.Exception) as exc:
            self.recorder.take(item.nodeid, item)
            message = f"{type(exc).__name__}: {exc} (the journey tried to stop the whole run)"
            seconds, trace_id = time.perf_counter() - started, item.stash.get(TRACE_KEY, "")
            result = JourneyResult(item.nodeid, False, seconds, "error", message, trace_id=trace_id)
            self._leave([(RESULT, index, result.to_wire(), []), (LEAVE, False)])
        except Exception as exc:
            self.recorder.take(item.nodeid, item)
            self._leave([(ERROR, session_error("internal error", exc)), (RESULT, index, None, []), (LEAVE, True)])

    def _leave(self, messages: list[tuple[Any, ...]]) -> None:
        for message in messages:
            send(self.results, message)
        tracing.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    def _receive(self, block: bool) -> None:
        if block:
            self.tasks.fill(block=True)
        else:
            self.tasks.drain()
        for index in self.tasks.indices():
            if self._retry or index == RETRY:
                self._retry.append(index)
                if len(self._retry) == 3:  # RETRY, reruns left, index
                    _, left, retried = self._retry
                    self._retry = []
                    self.reruns_left[retried] = left
                    self.queue.append(retried)
            elif index == STOP:
                self.queue.clear()
                self.shutdown = True
            elif index == SHUTDOWN:
                self.shutdown = True
            elif not self.shutdown:
                self.queue.append(index)
        if self.tasks.closed:
            self.shutdown = True


def isolate(controller: int, handlers: dict[signal.Signals, Any]) -> None:
    """A worker's own process group (a journey signalling its group reaches no further), dying with its parent,
    with the signal handlers a process of plain pytest has (SIGINT raises KeyboardInterrupt)."""
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != controller:
        os._exit(1)  # the controller died before the line above took effect
    for sig, handler in handlers.items():
        signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


@dataclass(frozen=True, slots=True)
class Saved:
    """The working directory and environment a worker starts with, given back after every journey."""

    cwd: str
    environ: dict[str, str]
    raw: dict[Any, Any]  # the bytes behind os.environ: comparing them is cheap, decoding every variable is not

    @classmethod
    def take(cls) -> Saved:
        return cls(os.getcwd(), dict(os.environ), dict(_raw_environ()))

    def restore(self) -> None:
        with contextlib.suppress(OSError):
            if os.getcwd() != self.cwd:
                os.chdir(self.cwd)
        if _raw_environ() != self.raw:
            os.environ.clear()
            os.environ.update(self.environ)


def _raw_environ() -> Any:
    return getattr(os.environ, "_data", os.environ)
