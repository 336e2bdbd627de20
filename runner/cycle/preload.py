"""Imported once by the runner's forkserver: load everything a pytest session loads, then nothing else.

This module is the one exception to "nothing happens at import": importing it is its job. It runs a
throwaway ``pytest --collect-only`` on an empty folder, so that pytest, its plugins (found through entry
points) and whatever they import lazily during a session (hypothesis's plugin imports all of hypothesis in
its terminal summary, for one) are already in the forkserver's memory. Every cycle forks from there and pays
none of it again. The journeys are never imported here: they are imported fresh in each cycle's child.
"""

from __future__ import annotations

import contextlib
import gc
import io
import os
import tempfile

import pytest

import runner.cycle.child  # noqa: F401  (the cycle's entry point and its imports)
from runner.journey.session import user_agent

# Plugins (pytest-timeout, xdist, hypothesis...) are imported by the session below, never directly: pytest
# then imports them through its assertion rewriter, as it would, so a real session finds them rewritten and
# does not warn "Module already imported so cannot be rewritten" (an error under filterwarnings = error).


def _warm_up() -> None:
    with tempfile.TemporaryDirectory(prefix="synthetic-warm-up-") as folder:
        sink = io.StringIO()
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            pytest.main(
                [folder, "-q", "-p", "no:cacheprovider", "--collect-only", "--rootdir", folder, "-c", os.devnull],
                plugins=[],
            )


_warm_up()
user_agent()  # read from the package's metadata once here, not in every cycle (0.67 ms)
# Move everything loaded so far out of the collector's reach: a forked cycle then neither scans nor
# writes to these objects' pages, so they stay shared with the forkserver instead of being copied.
gc.freeze()
