"""The cycle process's entry point: the one module of the cycle that the runner's process imports.

The runner names ``start_cycle`` as the target of the process the forkserver forks; only there, in the cycle's
process, does it import the child (and with it pytest), which the forkserver has already loaded
(``runner.cycle.preload``), so the import costs nothing. The runner's own process never imports pytest.
"""

from __future__ import annotations

from runner.handoff import CycleRequest


def start_cycle(request: CycleRequest) -> None:
    """Run one cycle in this (forked) process; it ends the process with pytest's exit status."""
    from runner.cycle.child import run_cycle  # noqa: PLC0415  (in the cycle's process only: see the docstring)

    run_cycle(request)
