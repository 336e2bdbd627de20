"""multiprocessing's helper processes, the forkserver and the resource tracker, kept within bounds.

Every cycle is forked by the forkserver; a journey can reach it (or the resource tracker) and stop it with
SIGSTOP, or leave a daemon holding one of its pipes. Nothing here then waits for good: a cycle's start waits
for the forkserver only while it runs (a stopped one is killed at once, a hung one after a long bound), and
stopping the helpers kills what does not end within a few seconds.

Usage::

    forking.start(scratch.root)               # the forkserver's socket in the runner's own folder
    problem = forking.start_process(process)  # "" once started; else why not (the forkserver was killed)
    forking.stop_helpers()
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import tempfile
import threading
import time
from multiprocessing import forkserver, resource_tracker
from multiprocessing.process import BaseProcess
from pathlib import Path

from runner.handoff.procs import state_of
from runner.logs import get_logger
from runner.supervisor.scratch import Scratch

MAX_SOCKET_FOLDER_CHARS = 60  # + "/mp-xxxxxxxx/listener-xxxxxxxx" stays under AF_UNIX's 108 bytes
# mkdtemp makes a private (0700) folder with a random name there, so shared folders are safe.
SHORT_TEMP_FOLDERS = ("/tmp", "/dev/shm", "/var/tmp")  # noqa: S108
STOPPED_STATES = frozenset({"T", "t"})  # stopped by a signal, or by a tracer
STOPPED_GRACE_SECONDS = 0.5
# A fresh forkserver first imports pytest and every plugin (runner.cycle.preload): seconds on a busy machine.
ANSWER_LIMIT_SECONDS = 120.0
WATCH_SECONDS = 0.05
HELPER_STOP_SECONDS = 3.0


def start(folder: Path) -> Scratch | None:
    """Start the forkserver with its socket in ``folder``, or, when that path is too long for a socket, in a
    locked folder of its own in a short place (returned, for the caller to close)."""
    short = None
    if len(str(folder)) > MAX_SOCKET_FOLDER_CHARS:
        for candidate in SHORT_TEMP_FOLDERS:
            if os.access(candidate, os.W_OK | os.X_OK):
                short = Scratch.make(Path(candidate))
                folder = short.root
                break
    # multiprocessing's own folder (pymp-*), where the socket goes: inside ours, so it goes with ours.
    sockets = Path(tempfile.mkdtemp(prefix="mp-", dir=folder))
    multiprocessing.current_process()._config["tempdir"] = str(sockets)  # type: ignore[attr-defined]
    forkserver.ensure_running()
    return short


def helper_pids() -> set[int]:
    """The forkserver's and the resource tracker's pids, those running."""
    pids = {_pid(helper) for helper in _helpers()}
    return {pid for pid in pids if pid is not None}


def start_process(process: BaseProcess) -> str:
    """Start ``process`` through the forkserver; "" once started, else why not.

    The start waits for the forkserver to fork and send the new pid. A forkserver that is stopped, or silent
    for longer than ANSWER_LIMIT_SECONDS, is killed: the start then fails at once, and the next one starts a
    fresh forkserver.
    """
    started = threading.Event()
    watchdog = threading.Thread(target=_watch, args=(started,), name="forkserver-watchdog", daemon=True)
    watchdog.start()
    try:
        process.start()
    except (OSError, EOFError) as exc:
        return (
            f"the forkserver did not start the cycle ({exc or type(exc).__name__}): it was stopped or hung and "
            "has been killed; the next cycle starts a fresh one"
        )
    finally:
        started.set()
    return ""


def stop_helpers() -> None:
    """End the forkserver and the resource tracker, killing any that does not end within HELPER_STOP_SECONDS
    (a stopped one, or one whose pipe a journey's daemon still holds open)."""
    for helper in _helpers():
        stop = getattr(helper, "_stop", None)  # CPython's own (private) way to end these helper processes
        if not callable(stop):
            continue
        pid = _pid(helper)
        ending = threading.Thread(target=_quietly, args=(stop,), name="helper-stop", daemon=True)
        ending.start()
        ending.join(HELPER_STOP_SECONDS)
        if ending.is_alive() and pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            ending.join(HELPER_STOP_SECONDS)


def kill_forkserver(why: str) -> None:
    """Kill the forkserver (the next cycle starts a fresh one), saying why in the log."""
    pid = _pid(getattr(forkserver, "_forkserver", None))
    if pid is None:
        return
    get_logger("runner").warning("forkserver killed", pid=pid, state=state_of(pid), reason=why)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _watch(started: threading.Event) -> None:
    """Kill the forkserver if it is stopped, or silent too long, before ``started`` is set."""
    deadline = time.monotonic() + ANSWER_LIMIT_SECONDS
    stopped_since: float | None = None
    while not started.wait(WATCH_SECONDS):
        pid = _pid(getattr(forkserver, "_forkserver", None))
        if pid is None:
            continue
        now = time.monotonic()
        stopped = state_of(pid) in STOPPED_STATES
        stopped_since = (stopped_since or now) if stopped else None
        if now > deadline or (stopped_since is not None and now - stopped_since > STOPPED_GRACE_SECONDS):
            kill_forkserver("stopped" if stopped_since is not None else "no answer while starting a cycle")
            return


def _helpers() -> list[object]:
    found = (getattr(forkserver, "_forkserver", None), getattr(resource_tracker, "_resource_tracker", None))
    return [helper for helper in found if helper is not None]


def _pid(helper: object) -> int | None:
    pid = getattr(helper, "_forkserver_pid", None) or getattr(helper, "_pid", None)
    return pid if isinstance(pid, int) else None


def _quietly(stop: object) -> None:
    with contextlib.suppress(OSError, ChildProcessError):
        stop()  # type: ignore[operator]
