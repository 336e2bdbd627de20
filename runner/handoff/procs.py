"""This machine's processes as /proc/PID/stat shows them, and the one way the runner ends a family of them.

Usage::

    children = [pid for pid, fields in stat_fields() if int(fields[PPID]) == os.getpid()]
    become_subreaper()              # orphans of our descendants become our children, not init's
    background_session(5)           # a session of its own, behind the runner's other work by nice 5
    kill_family(cycle_pid)          # the cycle, its session, and every descendant, daemons included
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
from collections.abc import Iterable, Iterator
from pathlib import Path

# Indices into the fields after the command name: state, ppid, pgrp, session (fields 3 to 6 of stat).
STATE, PPID, PGRP, SESSION = 0, 1, 2, 3
PR_SET_CHILD_SUBREAPER = 36
KILL_PASSES = 5  # a process forked while one pass ran is found by the next
DEAD_STATES = frozenset({"Z", "X"})
AUTOGROUP = Path("/proc/self/autogroup")
MAX_NICE = 19


def stat_fields() -> Iterator[tuple[int, list[str]]]:
    """Each live process's pid and the fields of its stat line that follow the command name."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # The command name (field 2) may hold spaces and parentheses: the fields start after the last ")".
        yield int(entry.name), stat.rsplit(")", 1)[1].split()


def state_of(pid: int) -> str:
    """A process's state letter (R, S, D, T for stopped, Z...), or "" when it is gone."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[STATE]
    except (OSError, IndexError):
        return ""


def become_subreaper() -> bool:
    """Make orphaned descendants (a journey's double-forked daemon) this process's children; False where the
    system cannot (not Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    return False


def background_session(niceness: int) -> None:
    """Start a session of this process's own, ``niceness`` behind the runner's other work for the CPU.

    ``nice`` alone does not do it where the kernel groups processes by session for the scheduler (autogroup,
    sched(7), on by default on most distributions for processes outside a CPU cgroup): a new session is a
    new group whose share is set by the group's nice value, 0 however nice its processes are. The new group
    gets the runner's group's value plus ``niceness``.
    """
    inherited = autogroup_nice()
    os.setsid()
    os.nice(niceness)
    if inherited is not None:
        with contextlib.suppress(OSError):  # a kernel without autogroup, or one that refuses: plain nice only
            AUTOGROUP.write_text(str(min(MAX_NICE, inherited + niceness)))


def autogroup_nice() -> int | None:
    """This process's scheduling group's nice value ("/autogroup-57 nice 0"); None without autogroup."""
    try:
        return int(AUTOGROUP.read_text().split()[-1])
    except (OSError, ValueError, IndexError):
        return None


def family(roots: Iterable[int], table: list[tuple[int, list[str]]] | None = None) -> set[int]:
    """The live processes that are ``roots``, in their sessions, or descended from them."""
    table = list(stat_fields()) if table is None else table
    alive = {pid: fields for pid, fields in table if fields[STATE] not in DEAD_STATES}
    found = {root for root in roots if root in alive}
    found |= {pid for pid, fields in alive.items() if int(fields[SESSION]) in found}
    children: dict[int, list[int]] = {}
    for pid, fields in alive.items():
        children.setdefault(int(fields[PPID]), []).append(pid)
    todo = list(found)
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def kill_children() -> None:
    """SIGKILL and reap every child of this process, until none is left (a subreaper's inherited orphans too)."""
    me = os.getpid()
    while children := [pid for pid, fields in stat_fields() if int(fields[PPID]) == me]:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def kill_group(pid: int) -> None:
    """SIGKILL the process group led by ``pid`` (a worker's), and ``pid`` itself should it have left it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def kill_family(*roots: int) -> None:
    """SIGKILL ``roots``, their sessions and all their descendants, pass after pass until none is left.

    All at once, so no process is orphaned (and re-parented out of reach) before it is seen: a stopped
    process dies of SIGKILL too.
    """
    for _ in range(KILL_PASSES):
        members = family(roots)
        for pid in members:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if not members:
            return
