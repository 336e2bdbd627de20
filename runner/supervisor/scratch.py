"""The runner's own temporary folder, locked while it lives, and the clearing of folders runners left behind.

Everything the runner puts in the temporary folder (each cycle's folder, the forkserver's socket) goes into one
folder ``synthetic-runner-PID-XXXXXXXX`` holding a ``lock`` file that the runner keeps locked (``flock``).
The kernel drops the lock when the runner and every process it forked are gone, however they ended (even by
``kill -9``), so a folder whose lock can be taken is provably abandoned: the next runner removes it. Folders
of runners still alive, of other users, or of anything else are never touched.

Usage::

    cleared = clear_abandoned(Path(tempfile.gettempdir()))
    scratch = Scratch.make()
    cycle = tempfile.mkdtemp(prefix="cycle-", dir=scratch.root)
    scratch.close()                 # removes the folder
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
import weakref
from pathlib import Path

PREFIX = "synthetic-runner-"
LOCK = "lock"


class Scratch:
    """One runner's temporary folder, removed by ``close`` (or at the latest when the process exits)."""

    def __init__(self, root: Path, lock: int) -> None:
        self.root = root
        self._lock = lock
        self._remove = weakref.finalize(self, _remove, root, lock)

    @classmethod
    def make(cls, parent: Path | None = None) -> Scratch:
        """A new locked folder in ``parent`` (the temporary folder by default)."""
        root = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=parent))
        # Read-only: a file open for writing would keep its file system from being remounted read-only.
        lock = os.open(root / LOCK, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return cls(root, lock)

    def close(self) -> None:
        """Remove the folder and release its lock."""
        self._remove()


def clear_abandoned(parent: Path) -> list[Path]:
    """Remove the folders in ``parent`` that runners of this user left behind; the ones removed."""
    cleared = []
    with contextlib.suppress(OSError):
        for folder in parent.iterdir():
            if folder.name.startswith(PREFIX) and _abandoned(folder):
                cleared.append(folder)
    return cleared


def _abandoned(folder: Path) -> bool:
    """Remove ``folder`` if it is ours and nothing holds its lock; whether it was removed."""
    try:
        if folder.is_symlink() or folder.stat().st_uid != os.geteuid():
            return False
        lock = os.open(folder / LOCK, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False  # not a runner's folder, or one being made this instant
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(lock)
        return False  # its runner, or a process it started, is alive
    _remove(folder, lock)
    return True


def _remove(root: Path, lock: int) -> None:
    shutil.rmtree(root, ignore_errors=True)
    with contextlib.suppress(OSError):
        os.close(lock)
