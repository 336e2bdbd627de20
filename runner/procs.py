"""This machine's processes as /proc/PID/stat shows them, for finding what a cycle left behind.

Usage::

    children = [pid for pid, fields in stat_fields() if int(fields[PPID]) == os.getpid()]
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

# Indices into the fields after the command name: state, ppid, pgrp, session (fields 3 to 6 of stat).
STATE, PPID, PGRP, SESSION = 0, 1, 2, 3


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
