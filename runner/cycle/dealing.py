"""The worker pool's policy, without processes: which journeys a worker gets next, and the journey of a worker
that died (run again while it has retries left, else recorded as lost).

The controller (``runner.cycle.workers``) holds one ``Dealer`` per cycle and does only the process handling
around it.

Usage::

    dealer = Dealer(journeys=120, workers=4)
    batch, last = dealer.deal(holding=0)     # item indices for a worker holding none; last: the line is empty
    again = dealer.lost(index, attempts_used=1, first_failure="...", retries=2)   # True: back at the front
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from runner.cycle.pipes import RETRY

LOOKAHEAD = 2  # a worker starts a journey once it knows the next one, so fixture scopes end where pytest ends them
MAX_DEPTH = 64  # items dealt to a worker ahead; fewer as the line shortens, so workers finish together


class Dealer:
    """The line of journeys not yet dealt, and what the journeys of dead workers have used up."""

    def __init__(self, journeys: int | Iterable[int], workers: int) -> None:
        """``journeys``: how many (all of them, in order), or the indices of those to run."""
        self.pending: deque[int] = deque(range(journeys) if isinstance(journeys, int) else journeys)
        self.workers = max(1, workers)
        self.stopped = False
        self._used: dict[int, tuple[int, str]] = {}  # journey -> (attempts its dead workers ran, first failure)
        self._reruns_left: dict[int, int] = {}  # journey to run again -> the reruns it has left then

    def deal(self, holding: int) -> tuple[list[int], bool]:
        """The journeys to hand a worker that holds ``holding`` (none while it holds enough: it runs in order and
        needs the next one known, no more), and whether the line is now empty (the worker may be told to leave
        once it has run them)."""
        if self.stopped:
            return [], False
        depth = max(LOOKAHEAD, min(MAX_DEPTH, len(self.pending) // (4 * self.workers)))
        if holding >= max(LOOKAHEAD, depth // 2):
            return [], False
        batch = [self.pending.popleft() for _ in range(min(depth - holding, len(self.pending)))]
        return batch, not self.pending

    def announce(self, batch: Iterable[int]) -> list[int]:
        """``batch`` as a worker reads it: a journey run again after its worker died preceded by ``RETRY`` and
        the reruns it has left."""
        out: list[int] = []
        for index in batch:
            if index in self._reruns_left:
                out += [RETRY, self._reruns_left.pop(index)]
            out.append(index)
        return out

    def stop(self) -> None:
        """-x, --maxfail or an internal error: nothing more is dealt."""
        self.stopped = True
        self.pending.clear()

    def give_back(self, unstarted: Iterable[int]) -> None:
        """Journeys dealt to a worker that died before starting them go back to the front of the line."""
        if not self.stopped:
            self.pending.extendleft(reversed(list(unstarted)))

    def lost(self, index: int, attempts_used: int, first_failure: str, retries: int) -> bool:
        """A worker died running ``index`` after ``attempts_used`` attempts (its retries and the one it died in).
        True: it has retries left and goes to the front of the line; else it is over (``used`` says how far)."""
        attempts, first = self._used.pop(index, (0, ""))
        attempts += attempts_used
        first = first or first_failure
        left = retries - attempts
        if left < 0 or self.stopped:
            self._used[index] = (attempts, first)
            return False
        self._used[index] = (attempts, first)
        self._reruns_left[index] = left
        self.pending.appendleft(index)
        return True

    def used(self, index: int) -> tuple[int, str]:
        """The attempts the journey's dead workers ran and its first failure, forgotten once asked."""
        return self._used.pop(index, (0, ""))
