"""Journey faults, each alone and all in one cycle: the runner keeps serving, records the right result,
starts the next cycle on time, and leaves no process and no temporary file behind."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tests.processes import metric, scrape, wait_for
from tests.reliability.support import OK_JOURNEY, running, write

pytestmark = [pytest.mark.slow, pytest.mark.reliability]
COUNT = "synthetic_request_duration_count"

FAULTS: dict[str, tuple[str, str | None]] = {
    # name: (source of test_fault.py, expected reason; None means it passes)
    "hang": ("import time\n\ndef test_fault():\n    time.sleep(600)\n", "timeout"),
    "os._exit": ("import os\n\ndef test_fault():\n    os._exit(7)\n", "crash"),
    "segfault": ("import ctypes\n\ndef test_fault():\n    ctypes.string_at(0)\n", "crash"),
    "megabytes of output": (
        "import os, sys\n\ndef test_fault():\n"
        "    for _ in range(40):\n"
        "        print('x' * 100_000)\n"
        "        sys.stderr.write('y' * 100_000 + '\\n')\n"
        "        os.write(1, b'z' * 100_000 + b'\\n')\n",
        None,
    ),
    "memory hog (300 MB)": (
        "def test_fault():\n    hog = bytearray(300 * 2**20)\n    hog[::4096] = b'x' * len(hog[::4096])\n",
        None,
    ),
    "fixture raises": (
        "import pytest\n\n@pytest.fixture\ndef broken():\n    raise RuntimeError('fixture exploded')\n\n"
        "def test_fault(broken):\n    pass\n",
        "error",
    ),
    "leaves a child process running": (
        "import subprocess, sys\n\ndef test_fault():\n"
        "    subprocess.Popen(['sleep', '300'])\n"
        "    subprocess.Popen(['sleep', '301'], start_new_session=True)\n",
        None,
    ),
    "leaves temporary files": (
        "import tempfile\n\ndef test_fault(tmp_path):\n"
        "    (tmp_path / 'junk').write_bytes(b'x' * 1000)\n"
        "    tempfile.mkstemp()\n    tempfile.mkdtemp()\n",
        None,
    ),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_each_journey_fault_alone(tmp_path: Path, fault: str) -> None:
    source, reason = FAULTS[fault]
    folder = write(tmp_path / "journeys", {"test_fault.py": source, "test_ok.py": OK_JOURNEY})
    # A fault that must pass gets 3 s (the 300 MB memory hog took over 1 s with the 2 cores shared); the others
    # 1 s, so that those that time out do so quickly.
    timeout = "3" if reason is None else "1"
    with running(tmp_path, folder, "--interval", "1", "--timeout", timeout) as runner:
        runner.wait_cycles(2)
        samples = scrape(runner.url)
        cycles = runner.completed()
        if reason is None:
            assert metric(samples, COUNT, journey="test_fault.py::test_fault", result="success") == cycles
        else:
            assert metric(samples, COUNT, journey="test_fault.py::test_fault", result="failure") == cycles
            assert (
                metric(samples, "synthetic_journey_failures_total", journey="test_fault.py::test_fault", reason=reason)
                == cycles
            )
        assert metric(samples, COUNT, journey="test_ok.py::test_companion_is_fine", result="success") == cycles
        assert requests.get(f"{runner.url}/healthz", timeout=5).status_code == 200
        lags = [
            event["start_lag_seconds"] for event in runner.events("cycle completed") if "start_lag_seconds" in event
        ]
        assert lags and max(lags) < 0.5  # each cycle started on its grid point


def test_syntax_error_is_a_collection_error_and_the_rest_run(tmp_path: Path) -> None:
    folder = write(tmp_path / "journeys", {"test_broken.py": "def test_(:\n", "test_ok.py": OK_JOURNEY})
    with running(tmp_path, folder, "--interval", "1") as runner:
        runner.wait_cycles(2)
        samples = scrape(runner.url)
        assert metric(samples, "synthetic_collection_errors") == 1
        assert (
            metric(samples, COUNT, journey="test_ok.py::test_companion_is_fine", result="success") == runner.completed()
        )
        assert any("SyntaxError" in event["error"] for event in runner.events("journey file failed to load"))


def test_broken_conftest_keeps_the_runner_serving_and_says_so(tmp_path: Path) -> None:
    folder = write(tmp_path / "journeys", {"conftest.py": "import no_such_plugin_module\n", "test_ok.py": OK_JOURNEY})
    with running(tmp_path, folder, "--interval", "1") as runner:

        def errors() -> float:
            return metric(scrape(runner.url), "synthetic_runs_total", status="error") or 0

        wait_for(lambda: errors() >= 3, 60, "3 cycles counted as errors")
        samples = scrape(runner.url)
        assert metric(samples, "synthetic_collection_errors") == 1
        assert requests.get(f"{runner.url}/healthz", timeout=5).status_code == 200
        problems = [event["problem"] for event in runner.events("journey suite could not run")]
        assert problems and all("conftest.py failed to load" in p and "no_such_plugin_module" in p for p in problems)


def test_a_journey_that_changes_cwd_and_environment_does_not_affect_the_next(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "journeys",
        {
            "test_order.py": """
                import os

                def test_a_changes_things():
                    os.chdir("/")
                    os.environ["LEAKED"] = "1"
                    del os.environ["PATH"]

                def test_b_sees_the_original_world():
                    assert "LEAKED" not in os.environ and "PATH" in os.environ
                    assert os.getcwd() != "/"
            """
        },
    )
    with running(tmp_path, folder, "--interval", "1", "--workers", "0") as runner:
        runner.wait_cycles(2)
        samples = scrape(runner.url)
        assert (
            metric(samples, COUNT, journey="test_order.py::test_b_sees_the_original_world", result="success")
            == runner.completed()
        )


def test_every_fault_in_one_cycle(tmp_path: Path) -> None:
    files = {f"test_fault_{n}.py": source for n, (source, _) in enumerate(FAULTS.values())}
    files["test_syntax.py"] = "def (:\n"
    folder = write(tmp_path / "journeys", {**files, "test_ok.py": OK_JOURNEY})
    # A timeout of 3 s: the 300 MB memory hog must pass even when another test shares the 2 cores.
    with running(tmp_path, folder, "--interval", "2", "--timeout", "3", "--workers", "2") as runner:
        runner.wait_cycles(2)
        samples = scrape(runner.url)
        cycles = runner.completed()
        for n, (_, reason) in enumerate(FAULTS.values()):
            journey = f"test_fault_{n}.py::test_fault"
            if reason is None:
                assert metric(samples, COUNT, journey=journey, result="success") == cycles, journey
            else:
                assert metric(samples, "synthetic_journey_failures_total", journey=journey, reason=reason) == cycles, (
                    journey
                )
        assert metric(samples, "synthetic_collection_errors") == 1
        assert metric(samples, COUNT, journey="test_ok.py::test_companion_is_fine", result="success") == cycles
        assert requests.get(f"{runner.url}/healthz", timeout=5).status_code == 200
