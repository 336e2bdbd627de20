"""A pytest plugin that fits a user's pytest configuration to the monitor, whatever it holds.

The runner's own settings (timeout, temporary folder, cache folder) go straight onto pytest's parsed options,
never onto the command line, so a configuration that disables a built-in plugin (``-p no:tmpdir``,
``-p no:cacheprovider``) or pytest-timeout still runs. Options that make no sense in a monitor are
overridden (each becomes a note the runner logs once) or refused with a usage error naming the option. The
decisions are listed in the README ("Your pytest configuration").

Usage::

    options = Options(timeout_seconds=10, temp_dir=Path("/tmp/cycle/tmp"), collect_only=False)
    pytest.main(args, plugins=[options])
    options.notes     # -> ("--pdb is ignored: ...",)
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from runner.handoff import REFUSAL_PREFIX
from runner.handoff.results import safe_text

# option dest -> (what the user wrote, why the monitor cannot run with it)
REFUSED: dict[str, tuple[str, str]] = {
    "collectonly": ("--collect-only", "the monitor would run no journey; list journeys with pytest --collect-only"),
    "setuponly": ("--setup-only", "the monitor would run no journey"),
    "setupplan": ("--setup-plan", "the monitor would run no journey"),
    "showfixtures": ("--fixtures", "the monitor would run no journey"),
    "show_fixtures_per_test": ("--fixtures-per-test", "the monitor would run no journey"),
    "markers": ("--markers", "the monitor would run no journey"),
    "looponfail": ("--looponfail", "it reruns failing tests forever instead of once a cycle"),
    "help": ("--help", "the monitor would run no journey"),
    "version": ("--version", "the monitor would run no journey"),
}
# option dest -> (value the monitor uses, what the user wrote, why)
OVERRIDDEN: dict[str, tuple[object, str, str]] = {
    "usepdb": (False, "--pdb", "the monitor has no terminal to debug in; run pytest on the journeys to debug"),
    "trace": (False, "--trace", "the monitor has no terminal to debug in; run pytest on the journeys to debug"),
    "lf": (False, "--last-failed", "the monitor runs every journey every cycle"),
    "stepwise": (False, "--stepwise", "the monitor runs every journey every cycle"),
    "numprocesses": (None, "-n/--numprocesses", "the runner's --workers sets how many journeys run at once"),
    "xmlpath": (None, "--junitxml", "the monitor's results are on /metrics and /api/results"),
}
XDIST_OFF = {"dist": "no", "tx": []}


@dataclass
class Options:
    """Applies the monitor's settings to pytest's options and keeps what it overrode as notes."""

    timeout_seconds: float
    temp_dir: Path
    collect_only: bool = False
    retries: int | None = None
    notes: list[str] = field(default_factory=list)
    artifacts_dir: Path | None = None
    degraded_after_seconds: float | None = None
    interval_seconds: float | None = None

    @pytest.hookimpl(wrapper=True)
    def pytest_cmdline_main(self, config: pytest.Config) -> Generator[None, object, object]:
        # A wrapper runs before every implementation, pytest's own and xdist's tryfirst ones included.
        self.apply(config.option)
        if config.pluginmanager.has_plugin("playwright"):
            # pytest-playwright writes (and deletes, every session) its output folder: the cycle's, not the user's.
            config.option.output = str(self.temp_dir / "playwright")
        if self.artifacts_dir is not None and hasattr(config.option, "synthetic_artifacts"):
            config.option.synthetic_artifacts = str(self.artifacts_dir)
        return (yield)

    @pytest.hookimpl(trylast=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        # The cache is the cycle's own (in its folder, gone after it). pytest writes the node ids it saw into it
        # and fails the whole session when one holds bytes that are not UTF-8 (a file named on a Latin-1 disk).
        cache = getattr(config, "cache", None)
        if cache is not None:
            write = cache.set
            cache.set = lambda key, value: write(key, _safe_value(value))

    def apply(self, option: object) -> None:
        """Refuse, override and set options on a parsed ``config.option`` namespace."""
        for dest, (flag, why) in REFUSED.items():
            if getattr(option, dest, None):
                raise pytest.UsageError(f"{REFUSAL_PREFIX} {flag} cannot be used by the monitor: {why}")
        for dest, (value, flag, why) in OVERRIDDEN.items():
            if getattr(option, dest, None) not in (None, False, value, 0):
                setattr(option, dest, value)
                self.notes.append(f"pytest option {flag} is ignored: {why}")
        if hasattr(option, "dist"):
            for dest, value in XDIST_OFF.items():
                setattr(option, dest, value)
        # Every collected journey runs even when one file fails to import: a broken file costs only its own.
        option.continue_on_collection_errors = True  # type: ignore[attr-defined]
        option.collectonly = self.collect_only  # type: ignore[attr-defined]
        if getattr(option, "verbose", None) == 0:
            # As -q: the cycle's output is a log read only for its tail when a cycle fails, so no progress dots
            # and file names for every journey (0.03 ms each); summaries, errors and warnings stay. Assertion
            # messages are the same at 0 and -1; a configuration's -v is left as it is.
            option.verbose = -1  # type: ignore[attr-defined]
        if hasattr(option, "timeout"):  # pytest-timeout, unless the configuration disabled it
            option.timeout = self.timeout_seconds
            option.timeout_method = "signal"  # type: ignore[attr-defined]
        if self.retries is not None and hasattr(option, "reruns"):  # pytest-rerunfailures
            option.reruns = self.retries  # a @pytest.mark.flaky(reruns=N) on a journey still wins
        if self.interval_seconds is not None:  # the journey plugin checks @pytest.mark.interval against it
            option.synthetic_interval = self.interval_seconds  # type: ignore[attr-defined]
        if self.degraded_after_seconds is not None:  # the journey plugin's; a marker on a journey still wins
            option.synthetic_degraded_after = self.degraded_after_seconds  # type: ignore[attr-defined]
        if hasattr(option, "basetemp"):  # tmp_path and friends live in the cycle's folder, removed after it
            option.basetemp = str(self.temp_dir / "pytest")


def _safe_value(value: object) -> object:
    """A JSON value whose strings, keys included, hold no lone surrogate (see ``runner.handoff.results.safe_text``)."""
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, dict):
        return {_safe_value(key): _safe_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_safe_value(item) for item in value]
    return value
