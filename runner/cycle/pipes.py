"""The messages between the cycle's process and its workers, over plain pipes.

Tasks go one way as 4-byte item indices (``SHUTDOWN`` when there is nothing more, ``STOP`` to stop after
the current journey). Results come back as length-prefixed ``marshal`` frames, each a tuple whose first
element names its kind (``RESULT``, ``ATTEMPT``, ``ERROR`` or ``LEAVE``). The reader keeps a buffer, so one
``read`` takes every frame that has arrived.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import select
import struct
from typing import Any

SHUTDOWN = -1
STOP = -2
RETRY = -3  # followed by (reruns left, index): run a journey whose worker died, with that many reruns left
RESULT = "result"  # (RESULT, index, outcome or None, fixture timings)
LEAVE = "leave"  # (LEAVE, stop the session): the worker exits on purpose with nothing running
ATTEMPT = "attempt"  # (ATTEMPT, failure message): the running journey failed and starts again (a retry)
ERROR = "error"  # (ERROR, what): a hook raised outside any journey's phases: the cycle ends as an error
READ_BYTES = 65536
_HEADER = struct.Struct("!I")
_INDEX = struct.Struct("!i")


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` to ``fd``."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def send(fd: int, message: tuple[Any, ...]) -> None:
    """One framed message."""
    payload = marshal.dumps(message)
    write_all(fd, _HEADER.pack(len(payload)) + payload)


def send_indices(fd: int, indices: list[int]) -> None:
    """Item indices for a worker; a worker that is gone shows as end of file on its results pipe instead."""
    with contextlib.suppress(BrokenPipeError):
        write_all(fd, struct.pack(f"!{len(indices)}i", *indices))


class FrameReader:
    """Reads framed messages (or 4-byte indices) from one pipe, keeping what is incomplete.

    The pipe is made non-blocking: a reader woken for a descriptor number that was meanwhile closed and
    reused never hangs.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = bytearray()
        self.closed = False
        os.set_blocking(fd, False)

    def fill(self, block: bool = False) -> None:
        """Read what is there, waiting for something first if ``block``; mark end of file."""
        if block:
            select.select([self.fd], [], [])
        try:
            chunk = os.read(self.fd, READ_BYTES)
        except BlockingIOError:
            return
        if chunk:
            self.buffer += chunk
        else:
            self.closed = True

    def drain(self) -> None:
        """Read everything already in the pipe without waiting."""
        while not self.closed:
            before = len(self.buffer)
            self.fill()
            if len(self.buffer) == before:
                return

    def messages(self) -> list[tuple[Any, ...]]:
        """The complete frames in the buffer, in order; a torn last one stays."""
        found, offset = [], 0
        while len(self.buffer) - offset >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self.buffer, offset)
            end = offset + _HEADER.size + size
            if end > len(self.buffer):
                break
            found.append(marshal.loads(self.buffer[offset + _HEADER.size : end]))  # noqa: S302  (our own worker)
            offset = end
        del self.buffer[:offset]
        return found

    def indices(self) -> list[int]:
        """The complete 4-byte indices in the buffer."""
        count = len(self.buffer) // _INDEX.size
        values = list(struct.unpack_from(f"!{count}i", self.buffer))
        del self.buffer[: count * _INDEX.size]
        return values
