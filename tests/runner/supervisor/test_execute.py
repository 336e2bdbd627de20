"""Running the suite in a forked child: crashes, hangs and broken files cannot take the cycle down."""

from __future__ import annotations

import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest

from runner.handoff.results import CycleReport
from runner.settings.command_line import Settings
from runner.supervisor.execute import Executor


def write(folder: Path, name: str, source: str) -> None:
    (folder / name).write_text(textwrap.dedent(source))


def cycle(folder: Path, workers: int = 0, timeout: float = 1.0, args: tuple[str, ...] = ()) -> CycleReport:
    executor = Executor(Settings(journeys=folder, workers=workers, timeout_seconds=timeout, pytest_args=args))
    execution = executor.execute()
    assert execution.report is not None, execution.output_tail
    return execution.report


def outcomes(report: CycleReport) -> dict[str, tuple[bool, str | None]]:
    return {result.journey: (result.passed, result.reason) for result in report.results}


FAULTS = """
    import ctypes, os, signal, time

    def test_first():
        pass

    def test_exits():
        os._exit(3)

    def test_segfaults():
        ctypes.string_at(0)

    def test_hangs_past_the_alarm():
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(60)

    def test_sleeps():
        time.sleep(60)

    def test_last():
        pass
"""


@pytest.mark.parametrize("workers", [0, 3])
def test_crashes_and_hangs_are_failures_and_the_rest_still_run(tmp_path: Path, workers: int) -> None:
    write(tmp_path, "test_faults.py", FAULTS)
    started = time.monotonic()
    report = cycle(tmp_path, workers=workers)
    assert outcomes(report) == {
        "test_faults.py::test_first": (True, None),
        "test_faults.py::test_exits": (False, "crash"),
        "test_faults.py::test_segfaults": (False, "crash"),
        "test_faults.py::test_hangs_past_the_alarm": (False, "timeout"),
        "test_faults.py::test_sleeps": (False, "timeout"),
        "test_faults.py::test_last": (True, None),
    }
    messages = {r.journey: r.message for r in report.results}
    assert "signal 11 (SIGSEGV)" in messages["test_faults.py::test_segfaults"]
    assert "exit status 3" in messages["test_faults.py::test_exits"]
    assert time.monotonic() - started < 30  # bounded: 1 s timeout + 2 s grace per hang


def test_broken_file_is_a_collection_error_and_the_others_run(tmp_path: Path) -> None:
    write(tmp_path, "test_ok.py", "def test_ok():\n    pass\n")
    write(tmp_path, "test_syntax.py", "def test_(:\n")
    write(tmp_path, "test_import.py", "import no_such_module_here\n")
    report = cycle(tmp_path)
    assert outcomes(report) == {"test_ok.py::test_ok": (True, None)}
    errors = {error.path: error.message for error in report.collection_errors}
    assert set(errors) == {"test_syntax.py", "test_import.py"}
    assert "SyntaxError" in errors["test_syntax.py"]
    assert "No module named 'no_such_module_here'" in errors["test_import.py"]


def test_module_and_session_fixtures_are_set_up_once_per_worker(tmp_path: Path) -> None:
    marker = tmp_path / "setups.log"
    write(
        tmp_path,
        "test_scoped.py",
        f"""
        import pytest

        @pytest.fixture(scope="module")
        def resource():
            with open({str(marker)!r}, "a") as log:
                log.write("setup\\n")
            yield

        @pytest.mark.parametrize("i", range(10))
        def test_uses(resource, i):
            pass
        """,
    )
    report = cycle(tmp_path, workers=0)
    assert len(report.results) == 10 and all(r.passed for r in report.results)
    assert marker.read_text().count("setup") == 1


def test_edited_journey_is_picked_up_by_the_next_cycle(tmp_path: Path) -> None:
    executor = Executor(Settings(journeys=tmp_path, timeout_seconds=5))
    executor.start()
    write(tmp_path, "test_edit.py", "def test_answer():\n    assert 1 == 2\n")
    first = executor.execute()
    write(tmp_path, "test_edit.py", "def test_answer():\n    assert 2 == 2\n\ndef test_new():\n    pass\n")
    second = executor.execute()
    assert first.report is not None and second.report is not None
    assert outcomes(first.report) == {"test_edit.py::test_answer": (False, "assertion")}
    assert outcomes(second.report) == {
        "test_edit.py::test_answer": (True, None),
        "test_edit.py::test_new": (True, None),
    }


def test_pytest_arguments_select_journeys(tmp_path: Path) -> None:
    write(
        tmp_path,
        "test_marks.py",
        """
        import pytest

        @pytest.mark.critical
        def test_login():
            pass

        def test_browse():
            pass
        """,
    )
    write(tmp_path, "pytest.ini", "[pytest]\nmarkers =\n    critical: must work\n")
    report = cycle(tmp_path, args=("-m", "critical"))
    assert outcomes(report) == {"test_marks.py::test_login": (True, None)}
    assert report.collected == ("test_marks.py::test_login",)


def test_stop_kills_the_cycle_and_all_its_workers(tmp_path: Path) -> None:
    write(
        tmp_path,
        "test_slow.py",
        "import time, pytest\n\n@pytest.mark.parametrize('i', range(4))\ndef test_slow(i):\n    time.sleep(60)\n",
    )
    executor = Executor(Settings(journeys=tmp_path, workers=4, timeout_seconds=60))
    executor.start()
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    threading.Timer(2.0, executor.stop).start()
    started = time.monotonic()
    execution = executor.execute()
    assert execution.stopped
    assert time.monotonic() - started < 6
    started_here = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
    _, lingering = psutil.wait_procs(started_here, timeout=5)
    assert [p for p in lingering if p.status() != psutil.STATUS_ZOMBIE] == []


def test_a_hang_during_collection_is_stopped_by_the_heartbeat(tmp_path: Path) -> None:
    write(tmp_path, "test_import_hangs.py", "import time\ntime.sleep(120)\n\ndef test_never():\n    pass\n")
    started = time.monotonic()
    execution = Executor(Settings(journeys=tmp_path, timeout_seconds=0.5)).execute()
    assert execution.stalled and execution.report is None
    assert time.monotonic() - started < 15


def test_bad_pytest_argument_is_a_usage_error(tmp_path: Path) -> None:
    write(tmp_path, "test_ok.py", "def test_ok():\n    pass\n")
    execution = Executor(Settings(journeys=tmp_path, pytest_args=("--no-such-option",))).execute()
    assert execution.usage_error
    assert "--no-such-option" in execution.error_line


def test_a_worker_that_dies_while_its_forked_child_holds_the_pipe_is_noticed_at_once(tmp_path: Path) -> None:
    write(
        tmp_path,
        "test_fork.py",
        """
        import os, time

        def test_forks_then_dies():
            if os.fork() == 0:
                time.sleep(60)  # outlives its worker and keeps the worker's pipes open
                os._exit(0)
            os._exit(1)

        def test_after():
            pass
        """,
    )
    started = time.monotonic()
    report = cycle(tmp_path, timeout=60)
    assert outcomes(report) == {
        "test_fork.py::test_forks_then_dies": (False, "crash"),
        "test_fork.py::test_after": (True, None),
    }
    assert time.monotonic() - started < 10  # not the child's 60 s, nor the 60 s timeout


REACHING_OUT = """
    import os, signal, pytest

    def test_first():
        pass

    def test_signals_its_own_process_group():
        os.killpg(os.getpgrp(), signal.SIGTERM)

    def test_signals_its_parent():
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
            os.kill(os.getppid(), sig)

    def test_raises_keyboard_interrupt():
        raise KeyboardInterrupt

    def test_calls_pytest_exit():
        pytest.exit("bye")

    def test_forks_and_its_child_carries_on():
        os.fork()  # both return into pytest; only the worker may report

    def test_last():
        pass
"""


@pytest.mark.parametrize("workers", [0, 2])
def test_a_journey_reaching_beyond_itself_costs_only_that_journey(tmp_path: Path, workers: int) -> None:
    write(tmp_path, "test_reach.py", REACHING_OUT)
    report = cycle(tmp_path, workers=workers, timeout=10)
    assert outcomes(report) == {
        "test_reach.py::test_first": (True, None),
        "test_reach.py::test_signals_its_own_process_group": (False, "crash"),
        "test_reach.py::test_signals_its_parent": (True, None),
        "test_reach.py::test_raises_keyboard_interrupt": (False, "error"),
        "test_reach.py::test_calls_pytest_exit": (False, "error"),
        "test_reach.py::test_forks_and_its_child_carries_on": (True, None),
        "test_reach.py::test_last": (True, None),
    }
    messages = {result.journey: result.message for result in report.results}
    assert "signal 15 (SIGTERM)" in messages["test_reach.py::test_signals_its_own_process_group"]
    assert messages["test_reach.py::test_calls_pytest_exit"].startswith("Exit: bye")


@pytest.mark.parametrize("workers", [0, 2])
def test_the_tls_chains_the_runner_knows_reach_the_cycles_journeys(tmp_path: Path, workers: int) -> None:
    write(
        tmp_path,
        "test_chains.py",
        """
        from runner.journey import certificates

        def test_knows_the_chain():
            assert certificates._CHAINS[b"d" * 20] == (b"d" * 20, 1234.0, "Known CA")
        """,
    )
    executor = Executor(Settings(journeys=tmp_path, workers=workers, timeout_seconds=5))
    execution = executor.execute(chains=((b"d" * 20, 1234.0, "Known CA"),))
    assert execution.report is not None, execution.output_tail
    assert outcomes(execution.report) == {"test_chains.py::test_knows_the_chain": (True, None)}
