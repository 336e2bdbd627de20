"""The monitor's settings go onto pytest's options; options that make no sense in a monitor are handled."""

from __future__ import annotations

from argparse import Namespace
from pathlib import Path

import pytest

from runner.cycle.pytest_options import Options


def parsed(**values: object) -> Namespace:
    defaults: dict[str, object] = {
        "usepdb": False,
        "trace": False,
        "lf": False,
        "stepwise": False,
        "collectonly": False,
        "maxfail": 0,
    }
    return Namespace(**{**defaults, **values})


def options() -> Options:
    return Options(timeout_seconds=7, temp_dir=Path("/tmp/cycle"))


def test_runner_settings_land_only_where_their_plugin_is_active() -> None:
    with_plugins = parsed(timeout=None, timeout_method=None, basetemp=None, dist="no", tx=[])
    options().apply(with_plugins)
    assert (with_plugins.timeout, with_plugins.timeout_method) == (7, "signal")
    assert with_plugins.basetemp == "/tmp/cycle/pytest"
    assert with_plugins.continue_on_collection_errors is True
    without = parsed()  # -p no:timeout -p no:tmpdir -p no:xdist
    options().apply(without)
    assert not hasattr(without, "timeout") and not hasattr(without, "basetemp") and not hasattr(without, "dist")


def test_debugging_and_partial_run_options_are_overridden_with_one_note_each() -> None:
    namespace = parsed(usepdb=True, trace=True, lf=True, stepwise=True, numprocesses="auto", dist="load", tx=["popen"])
    plugin = options()
    plugin.apply(namespace)
    assert (namespace.usepdb, namespace.trace, namespace.lf, namespace.stepwise) == (False, False, False, False)
    assert (namespace.numprocesses, namespace.dist, namespace.tx) == (None, "no", [])
    assert [note.split(" is ignored")[0] for note in plugin.notes] == [
        "pytest option --pdb",
        "pytest option --trace",
        "pytest option --last-failed",
        "pytest option --stepwise",
        "pytest option -n/--numprocesses",
    ]


def test_untouched_options_give_no_notes() -> None:
    plugin = options()
    plugin.apply(parsed(numprocesses=0, xmlpath=None, maxfail=1))
    assert plugin.notes == []


@pytest.mark.parametrize("dest", ["collectonly", "setupplan", "setuponly", "showfixtures", "markers", "looponfail"])
def test_options_that_would_run_no_journey_are_refused(dest: str) -> None:
    with pytest.raises(pytest.UsageError, match=r"^pytest option --[a-z-]+ cannot be used by the monitor: "):
        options().apply(parsed(**{dest: True}))


def test_the_collect_only_pass_is_the_runners_own() -> None:
    namespace = parsed()
    Options(timeout_seconds=1, temp_dir=Path("/tmp/c"), collect_only=True).apply(namespace)
    assert namespace.collectonly is True


def test_the_cycles_log_is_quiet_unless_the_configuration_asks_for_more() -> None:
    untouched, verbose, quiet = parsed(verbose=0), parsed(verbose=1), parsed(verbose=-2)
    for namespace in (untouched, verbose, quiet):
        options().apply(namespace)
    assert (untouched.verbose, verbose.verbose, quiet.verbose) == (-1, 1, -2)
