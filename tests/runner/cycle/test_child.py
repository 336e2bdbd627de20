"""The cycle's process: a session pytest itself ends in an error is an error cycle, and a journey sees the
process (``__main__``, ``sys.argv``) that ``python -m pytest`` gives it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import requests

from runner.handoff.procs import autogroup_nice
from runner.handoff.results import status_error
from tests.processes import journeys, metric, scrape, start_runner, wait_for

JOURNEY = "def test_ran_before_it_broke():\n    pass\n"
# conftest.py hooks that raise where pytest turns the exception into an INTERNALERROR (or lets it through).
BROKEN_HOOKS = {
    "a collection hook": (
        "import pytest\n\ndef pytest_collection_modifyitems(items):\n"
        "    for item in items:\n        item.add_marker(pytest.mark.no_such_mark)\n",
        "PytestUnknownMarkWarning",
    ),
    "pytest_runtest_logreport": (
        "def pytest_runtest_logreport(report):\n"
        "    if report.when == 'call' and 'boom' in report.nodeid:\n"
        "        raise RuntimeError('logreport hook broke')\n",
        "RuntimeError: logreport hook broke",
    ),
    "pytest_sessionfinish": (
        "def pytest_sessionfinish(session):\n    raise RuntimeError('sessionfinish broke')\n",
        "RuntimeError: sessionfinish broke",
    ),
    "an interruption": (
        "import pytest\n\ndef pytest_collection_finish(session):\n    pytest.exit('maintenance')\n",
        "maintenance",
    ),
}
PYTEST_INI = "[pytest]\nfilterwarnings = error\n"


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("hook", BROKEN_HOOKS)
@pytest.mark.parametrize("workers", ["0", "2"])
def test_once_exits_non_zero_with_pytests_words_when_a_hook_breaks_the_session(
    tmp_path: Path, hook: str, workers: str
) -> None:
    conftest, words = BROKEN_HOOKS[hook]
    folder = journeys(
        tmp_path,
        {
            "conftest.py": conftest,
            "pytest.ini": PYTEST_INI,
            "test_a.py": JOURNEY,
            "test_b.py": "def test_boom():\n    pass\n",
        },
    )
    plain = run([sys.executable, "-m", "pytest", "-p", "no:randomly", "-q"], folder)
    monitored = run([sys.executable, "-m", "runner", "--once", "--journeys", ".", "--workers", workers], folder)
    assert plain.returncode != 0, plain.stdout + plain.stderr  # plain pytest fails the session too
    assert monitored.returncode == 1, monitored.stdout + monitored.stderr
    errors = [line for line in monitored.stdout.splitlines() if line.startswith("ERROR")]
    assert errors and words in errors[0], monitored.stdout
    assert "conftest.py" in "\n".join(errors), "the second line says which hook, where"
    if hook in ("pytest_runtest_logreport", "pytest_sessionfinish"):
        assert "test_a.py::test_ran_before_it_broke" in monitored.stdout  # journeys that ran still count


def test_a_broken_session_is_an_error_cycle_on_metrics_page_api_and_log_until_fixed(tmp_path: Path) -> None:
    conftest, words = BROKEN_HOOKS["pytest_sessionfinish"]
    folder = journeys(tmp_path, {"conftest.py": conftest, "test_a.py": JOURNEY})
    runner, url = start_runner(tmp_path, "--journeys", str(folder), "--interval", "1")
    try:
        wait_for(lambda: (metric(scrape(url), "synthetic_runs_total", status="error") or 0) >= 2, 60, "error cycles")
        samples = scrape(url)
        assert metric(samples, "synthetic_runs_total", status="completed") == 0
        assert metric(samples, "synthetic_last_run_timestamp_seconds") == 0  # the monitor's own alert sees it
        ran = metric(
            samples, "synthetic_request_duration_count", journey="test_a.py::test_ran_before_it_broke", result="success"
        )
        assert ran is not None and ran >= 1  # the journey that ran still counts
        error = requests.get(f"{url}/api/results", timeout=5).json()["suite_error"]
        assert error is not None and words in error["message"], error
        page = requests.get(url, timeout=5).text
        assert "The journey suite is broken" in page and words in page
        events = [json.loads(line) for line in runner.output().splitlines() if line.startswith("{")]
        assert any(e["event"] == "cycle ended in an error" and e["level"] == "error" for e in events)
        assert any(e["event"] == "journey suite could not run" and words in e["problem"] for e in events)
        assert not any(e["event"] == "cycle completed" for e in events)

        (folder / "conftest.py").write_text("")
        wait_for(lambda: metric(scrape(url), "synthetic_runs_total", status="completed"), 60, "a completed cycle")
        wait_for(lambda: requests.get(f"{url}/api/results", timeout=5).json()["suite_error"] is None, 30, "cleared")
        wait_for(lambda: "The journey suite is broken" not in requests.get(url, timeout=5).text, 30, "page clear")
    finally:
        assert runner.stop() == 0


def test_exit_statuses_that_say_the_session_went_wrong_are_named() -> None:
    assert status_error(3) == "pytest exited with status 3 (internal error)"
    assert status_error(2) == "pytest exited with status 2 (interrupted)"
    assert [status_error(code) for code in (0, 1, 5)] == ["", "", ""]


OBSERVER = """
    import json
    import os
    import signal
    import sys

    import __main__


    def test_sees_its_process(monkeypatch):
        seen = {
            "main_file": getattr(__main__, "__file__", None),
            "main_spec": getattr(getattr(__main__, "__spec__", None), "name", None),
            "main_package": getattr(__main__, "__package__", None),
            "main_name": __main__.__name__,
            "argv0": sys.argv[0],
            "argv_rest": sys.argv[1:],
            "orig_argv_tail": sys.orig_argv[1:3],
            "mp_main": "__mp_main__" in sys.modules,
            "sigint": signal.getsignal(signal.SIGINT) is signal.default_int_handler,
        }
        monkeypatch.setattr("__main__.__file__", "patched.py")  # what anyio's test_to_process does
        with open(os.environ["OBSERVED"], "w") as out:
            json.dump(seen, out)
"""


@pytest.mark.parametrize("workers", ["0", "2"])
@pytest.mark.parametrize("entry", ["module", "console script"])
def test_a_journey_sees_the_main_module_and_argv_of_python_m_pytest(tmp_path: Path, workers: str, entry: str) -> None:
    folder = journeys(tmp_path, {"test_observer.py": textwrap.dedent(OBSERVER)})
    plain_file, monitored_file = tmp_path / "plain.json", tmp_path / "monitored.json"
    env = {"PATH": str(Path(sys.executable).parent), "OBSERVED": str(plain_file)}
    plain = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", "-q", "-p", "no:cacheprovider"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert plain.returncode == 0, plain.stdout
    command = (
        [sys.executable, "-m", "runner"]
        if entry == "module"
        else [str(Path(sys.executable).parent / "synthetic-monitor")]
    )
    monitored = subprocess.run(
        [
            *command,
            "--once",
            "--journeys",
            ".",
            "--workers",
            workers,
            "--",
            "-p",
            "no:randomly",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=folder,
        env={**env, "OBSERVED": str(monitored_file)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert monitored.returncode == 0, monitored.stdout + monitored.stderr
    expected, seen = json.loads(plain_file.read_text()), json.loads(monitored_file.read_text())
    assert seen == expected
    assert expected["main_file"].endswith("pytest/__main__.py") and expected["sigint"]


PRIORITY = """
import json, os
from pathlib import Path

def test_where_it_runs():
    group = Path("/proc/self/autogroup")
    seen = {"session": os.getsid(0), "nice": os.nice(0),
            "group": int(group.read_text().split()[-1]) if group.exists() else None}
    Path(os.environ["OBSERVED"]).write_text(json.dumps(seen))
"""


@pytest.mark.parametrize("workers", ["0", "2"])
def test_journeys_run_behind_the_runner_for_the_cpu_in_a_session_of_their_own(tmp_path: Path, workers: str) -> None:
    folder = journeys(tmp_path, {"test_priority.py": PRIORITY})
    observed = tmp_path / "observed.json"
    runner_group = autogroup_nice()
    result = subprocess.run(
        [sys.executable, "-m", "runner", "--once", "--journeys", str(folder), "--workers", workers],
        env={**os.environ, "OBSERVED": str(observed)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    seen = json.loads(observed.read_text())
    assert seen["session"] != os.getsid(0) and seen["nice"] == os.nice(0) + 5
    if runner_group is not None:  # the kernel groups sessions for its scheduler: the group is niced too
        assert seen["group"] == min(19, runner_group + 5)
