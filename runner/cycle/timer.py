"""pytest-timeout's signal timer with its handler installed once per worker, not twice per journey.

With the signal method (the runner's), pytest-timeout installs a SIGALRM handler and arms the timer before
every journey, then disarms it and puts the default handler back after it: two ``signal.signal`` calls per
journey, most of the cost of its timer. This plugin answers pytest-timeout's own hooks for setting and
cancelling the timer (there for plugins to replace the timer) before pytest-timeout does, after any other
plugin or conftest that implements them: one handler per process, installed again
only when a journey replaced it, and per journey just the timer armed and disarmed. When the alarm rings it
calls pytest-timeout's ``timeout_sigalrm``, which fails the journey with its message and stacks, as before.
The thread method (outside the main thread, or chosen by a journey's marker) stays pytest-timeout's.

Usage::

    pytest.main(args, plugins=[SignalTimer()])
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType
from typing import Any

import pytest

SIGNAL_METHOD = "signal"


class SignalTimer:
    """Arms SIGALRM for the journey running; outside a journey the alarm does what its default does."""

    def __init__(self) -> None:
        self._armed: tuple[pytest.Item, Any] | None = None  # the journey timed and pytest-timeout's settings
        self._handler = self._ring  # one bound method, so that the handler in place can be recognised

    @pytest.hookimpl(optionalhook=True)
    def pytest_timeout_set_timer(self, item: pytest.Item, settings: Any) -> bool | None:
        if settings.method != SIGNAL_METHOD or threading.current_thread() is not threading.main_thread():
            return None  # pytest-timeout's own
        if signal.getsignal(signal.SIGALRM) is not self._handler:
            signal.signal(signal.SIGALRM, self._handler)
        self._armed = (item, settings)
        signal.setitimer(signal.ITIMER_REAL, settings.timeout)
        return True

    @pytest.hookimpl(optionalhook=True)
    def pytest_timeout_cancel_timer(self, item: pytest.Item) -> bool | None:
        if self._armed is None or self._armed[0] is not item:
            return None  # not set here: pytest-timeout cancels its own
        signal.setitimer(signal.ITIMER_REAL, 0)
        self._armed = None
        return True

    def _ring(self, signum: int, frame: FrameType | None) -> None:
        __tracebackhide__ = True
        if self._armed is None:  # no journey is timed: the default action, as pytest-timeout leaves it
            signal.signal(signal.SIGALRM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGALRM)
            return
        import pytest_timeout  # noqa: PLC0415  (loaded already: its hook called ours)

        pytest_timeout.timeout_sigalrm(*self._armed)
