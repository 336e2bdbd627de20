"""The runner as a real process: cycles on an interval, /metrics, faults it survives, signals, exit codes."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests

from runner.record.uptime import Uptime
from tests.processes import (
    REPO_ROOT,
    free_port,
    journeys,
    metric,
    require_binary,
    scrape,
    set_faults,
    start_runner,
    wait_for,
)

pytestmark = pytest.mark.slow
COUNT = "synthetic_request_duration_count"
DEMO_JOURNEYS = 4  # journeys/: the health check, two API journeys and a browser journey


def runs(url: str) -> float:
    return metric(scrape(url), "synthetic_runs_total", status="completed") or 0.0


def wait_for_runs(url: str, count: float, timeout: float = 60) -> None:
    wait_for(lambda: runs(url) >= count, timeout, f"{count} completed cycles")


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runner", *args],
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


MIXED = {
    "test_mixed.py": """
        import os, time, ctypes, pytest

        def test_passes():
            pass

        def test_fails():
            assert 500 == 200, "POST /reservations answered 500"

        @pytest.fixture
        def broken():
            raise RuntimeError("fixture exploded")

        def test_errors(broken):
            pass

        def test_hangs():
            time.sleep(60)

        def test_crashes():
            os._exit(1)

        def test_after_the_crash():
            pass

        @pytest.mark.skip(reason="not measured")
        def test_skipped():
            pass
    """,
    "test_broken.py": "import definitely_not_installed\n",
}


def test_every_kind_of_journey_is_recorded_and_the_runner_keeps_going(tmp_path: Path) -> None:
    folder = journeys(tmp_path, MIXED)
    runner, url = start_runner(
        tmp_path, "--journeys", str(folder), "--interval", "1", "--timeout", "1", "--workers", "2"
    )
    try:
        wait_for_runs(url, 2)
        samples = scrape(url)

        def count(test: str, result: str) -> float | None:
            return metric(samples, COUNT, journey=f"test_mixed.py::{test}", result=result)

        cycles = runs(url)
        for test in ("test_passes", "test_after_the_crash"):
            assert count(test, "success") == cycles and count(test, "failure") == 0
        for test, reason in [
            ("test_fails", "assertion"),
            ("test_errors", "error"),
            ("test_hangs", "timeout"),
            ("test_crashes", "crash"),
        ]:
            assert count(test, "failure") == cycles and count(test, "success") == 0, test
            assert (
                metric(samples, "synthetic_journey_failures_total", journey=f"test_mixed.py::{test}", reason=reason)
                == cycles
            )
            assert metric(samples, "synthetic_journey_success", journey=f"test_mixed.py::{test}") == 0
        assert count("test_skipped", "success") == 0 and count("test_skipped", "failure") == 0  # no observation
        assert metric(samples, "synthetic_collection_errors") == 1
        assert metric(samples, "synthetic_journeys") == 7
        assert requests.get(f"{url}/healthz", timeout=5).status_code == 200
        log = runner.output()
        assert "definitely_not_installed" in log and "journey file failed to load" in log
        assert "POST /reservations answered 500" in log
    finally:
        assert runner.stop() == 0


def test_success_count_grows_by_one_per_cycle_and_faults_are_counted(target: str, tmp_path: Path) -> None:
    runner, url = start_runner(tmp_path, "--interval", "1", env={"TARGET_URL": target})
    journey = "test_reservations.py::test_user_can_make_a_reservation"
    try:
        wait_for_runs(url, 1)
        first = scrape(url)
        assert metric(first, COUNT, journey=journey, result="failure") == 0
        wait_for_runs(url, runs(url) + 2)
        samples = scrape(url)
        completed = metric(samples, "synthetic_runs_total", status="completed")
        assert metric(samples, COUNT, journey=journey, result="success") == completed
        assert (
            metric(samples, COUNT, journey="test_health.py::test_service_reports_itself_healthy", result="success")
            == completed
        )

        set_faults(target, {"error_rate": 1, "status_codes": [500]})
        wait_for(
            lambda: (metric(scrape(url), COUNT, journey=journey, result="failure") or 0) >= 2, 30, "failures counted"
        )
        samples = scrape(url)
        assert metric(samples, "synthetic_journey_success", journey=journey) == 0
        assert (
            metric(samples, "synthetic_journey_success", journey="test_health.py::test_service_reports_itself_healthy")
            == 1
        )
    finally:
        runner.stop()


def test_every_series_exists_at_zero_before_the_first_cycle_ends(tmp_path: Path) -> None:
    folder = journeys(
        tmp_path, {"test_slow.py": "import time\n\ndef test_a():\n    time.sleep(3)\n\ndef test_b():\n    pass\n"}
    )
    runner, url = start_runner(tmp_path, "--journeys", str(folder), "--interval", "30")
    try:
        samples = scrape(url)
        for test in ("test_a", "test_b"):
            for result in ("success", "failure"):
                assert metric(samples, COUNT, journey=f"test_slow.py::{test}", result=result) == 0
        assert metric(samples, "synthetic_runs_total", status="completed") == 0
    finally:
        runner.stop()


def test_a_serving_runner_writes_the_metrics_file_as_metrics_serves_it_readable_by_others(tmp_path: Path) -> None:
    folder = journeys(tmp_path, {"test_one.py": "def test_one():\n    pass\n"})
    metrics_file = tmp_path / "synthetic.prom"
    runner, url = start_runner(
        tmp_path, "--journeys", str(folder), "--interval", "60", "--metrics-file", str(metrics_file)
    )
    try:
        wait_for(metrics_file.exists, 30, "the metrics file")
        served = requests.get(f"{url}/metrics", timeout=5).content  # the render the file was written from
        assert metrics_file.read_bytes() == served
        assert b'synthetic_request_duration_count{journey="test_one.py::test_one",result="success"} 1.0' in served
        assert metrics_file.stat().st_mode & 0o044 == 0o044  # node_exporter's textfile collector reads it
    finally:
        runner.stop()


def test_where_bytecode_may_not_be_written_the_next_cycles_read_the_journeys_compiled_code_from_the_runner(
    tmp_path: Path,
) -> None:
    folder = journeys(tmp_path, {"test_kept.py": "def test_answer():\n    assert 2 == 2\n"})
    temporary = tmp_path / "tmp"  # where the runner makes its own folder
    temporary.mkdir()
    env = {"PYTHONDONTWRITEBYTECODE": "1", "TMPDIR": str(temporary)}  # as in most container images
    runner, url = start_runner(tmp_path, "--journeys", str(folder), "--interval", "1", env=env)
    try:
        wait_for_runs(url, 1)
        (compiled,) = temporary.glob("synthetic-runner-*/bytecode/**/test_kept*.pyc")  # its assertions rewritten
        made = compiled.stat().st_mtime_ns
        wait_for_runs(url, runs(url) + 2)
        assert compiled.stat().st_mtime_ns == made, "compiled again although the journey did not change"
        samples = scrape(url)
        assert (
            metric(samples, "synthetic_request_duration_count", journey="test_kept.py::test_answer", result="success")
            or 0
        ) >= 3
    finally:
        runner.stop()
    assert not list(folder.rglob("__pycache__"))


def test_added_and_edited_journeys_are_picked_up_without_a_restart(tmp_path: Path) -> None:
    folder = journeys(tmp_path, {"test_one.py": "def test_one():\n    assert False, 'not yet'\n"})
    runner, url = start_runner(tmp_path, "--journeys", str(folder), "--interval", "1")
    try:
        wait_for_runs(url, 1)
        (folder / "test_one.py").write_text("def test_one():\n    pass\n")
        (folder / "test_two.py").write_text("def test_two():\n    pass\n")
        wait_for(
            lambda: metric(scrape(url), COUNT, journey="test_two.py::test_two", result="success"), 30, "the new journey"
        )
        wait_for(
            lambda: metric(scrape(url), "synthetic_journey_success", journey="test_one.py::test_one") == 1,
            30,
            "the edit",
        )
    finally:
        runner.stop()


def test_a_cycle_longer_than_the_interval_skips_ticks_and_counts_them(tmp_path: Path) -> None:
    folder = journeys(tmp_path, {"test_slow.py": "import time\n\ndef test_slow():\n    time.sleep(2.5)\n"})
    runner, url = start_runner(tmp_path, "--journeys", str(folder), "--interval", "1", "--timeout", "5")
    try:
        wait_for_runs(url, 2)
        samples = scrape(url)
        assert (metric(samples, "synthetic_runs_total", status="skipped") or 0) >= 2
        assert "cycle skipped" in runner.output()
    finally:
        runner.stop()


def test_target_down_fails_every_journey_fast(tmp_path: Path) -> None:
    require_binary("chromium", "chromium")  # the demo's journeys include a browser journey
    runner, url = start_runner(tmp_path, "--interval", "1", env={"TARGET_URL": f"http://127.0.0.1:{free_port()}"})
    try:
        wait_for_runs(url, 1)
        samples = scrape(url)
        failures = {
            dict(labels)["journey"]: value
            for (name, labels), value in samples.items()
            if name == COUNT and dict(labels)["result"] == "failure"
        }
        assert len(failures) == DEMO_JOURNEYS and all(value >= 1 for value in failures.values())
        assert (metric(samples, "synthetic_last_cycle_duration_seconds") or 99) < 5
    finally:
        runner.stop()


def test_sigterm_during_a_cycle_stops_everything_within_5_seconds(tmp_path: Path) -> None:
    folder = journeys(
        tmp_path,
        {
            "test_hang.py": "import time, pytest\n\n"
            "@pytest.mark.parametrize('i', range(3))\ndef test_hang(i):\n    time.sleep(60)\n"
        },
    )
    runner, _ = start_runner(tmp_path, "--journeys", str(folder), "--workers", "3", "--timeout", "60")
    try:
        parent = psutil.Process(runner.popen.pid)
        wait_for(lambda: len(parent.children(recursive=True)) >= 5, 30, "the cycle and its 3 workers")
        family = parent.children(recursive=True)
        started = time.monotonic()
        runner.popen.send_signal(signal.SIGTERM)
        assert runner.popen.wait(10) == 0
        assert time.monotonic() - started < 5
    finally:
        runner.stop()  # already stopped when the test passes; a failed test leaves no runner behind
    _, alive = psutil.wait_procs(family, timeout=2)
    assert alive == []
    assert '"monitor stopped"' in runner.output()


def test_sigint_stops_like_sigterm(tmp_path: Path) -> None:
    runner, _ = start_runner(tmp_path, "--interval", "1", env={"TARGET_URL": f"http://127.0.0.1:{free_port()}"})
    assert runner.stop(signal.SIGINT) == 0


def test_healthz_turns_503_when_cycles_stop_starting(tmp_path: Path) -> None:
    # Collection hangs: the heartbeat watchdog ends it after timeout + 4.5 s; meanwhile no cycle starts.
    folder = journeys(tmp_path, {"test_ok.py": "def test_ok():\n    pass\n"})
    runner, url = start_runner(tmp_path, "--journeys", str(folder), "--interval", "0.5", "--timeout", "0.5")
    try:
        wait_for_runs(url, 1)
        (folder / "test_hang.py").write_text("import time\ntime.sleep(120)\n")
        wait_for(lambda: requests.get(f"{url}/healthz", timeout=5).status_code == 503, 20, "healthz 503")
        wait_for(
            lambda: metric(scrape(url), "synthetic_runs_total", status="error"),
            30,
            "the stalled cycle counted as error",
        )
        (folder / "test_hang.py").unlink()
        wait_for(lambda: requests.get(f"{url}/healthz", timeout=5).status_code == 200, 30, "healthz back to 200")
    finally:
        runner.stop()


def test_scraped_metrics_pass_promtool_and_have_no_created_series(target: str, tmp_path: Path) -> None:
    runner, url = start_runner(tmp_path, "--interval", "1", env={"TARGET_URL": target})
    try:
        wait_for_runs(url, 1)
        text = requests.get(f"{url}/metrics", timeout=5).text
    finally:
        runner.stop()
    assert "_created" not in text
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing in CI; .ci/run installs the Debian package prometheus")
        pytest.skip("promtool not installed (Debian package prometheus)")
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and result.stdout + result.stderr == "", result.stdout + result.stderr


def test_more_than_a_hundred_clients_connected_at_once_are_all_answered(tmp_path: Path) -> None:
    runner, url = start_runner(tmp_path, "--interval", "60", env={"TARGET_URL": f"http://127.0.0.1:{free_port()}"})
    host, port = url.removeprefix("http://").split(":")
    clients = [socket.create_connection((host, int(port)), timeout=5) for _ in range(150)]
    try:
        # One after another, every earlier connection kept open (keep-alive), as dashboards hold them.
        for number, client in enumerate(clients, 1):
            client.sendall(b"GET /healthz HTTP/1.1\r\nHost: monitor\r\n\r\n")
            try:
                assert client.recv(64).startswith(b"HTTP/1.1 200")
            except TimeoutError:
                pytest.fail(f"connection {number} of 150 was never served")
    finally:
        for client in clients:
            client.close()
        runner.stop()
    assert "connection limit" not in runner.output()


def test_http_server_answers_get_only(tmp_path: Path) -> None:
    runner, url = start_runner(tmp_path, "--interval", "60", env={"TARGET_URL": f"http://127.0.0.1:{free_port()}"})
    try:
        assert requests.post(f"{url}/metrics", timeout=5).status_code == 405
        assert requests.delete(f"{url}/healthz", timeout=5).status_code == 405
        assert requests.get(f"{url}/nope", timeout=5).status_code == 404
    finally:
        runner.stop()


def test_once_exits_0_when_every_journey_passes_and_prints_a_table(target: str, tmp_path: Path) -> None:
    require_binary("chromium", "chromium")
    metrics_file = tmp_path / "synthetic.prom"
    result = run_cli("--once", "--metrics-file", str(metrics_file), env={"TARGET_URL": target})
    assert result.returncode == 0, result.stdout + result.stderr
    # On a busy machine a demo journey can be slow enough to be degraded: still passed.
    assert re.search(rf"{DEMO_JOURNEYS} passed( \(\d degraded\))?, 0 failed, 0 collection errors", result.stdout)
    assert "test_reservations.py::test_user_can_make_a_reservation" in result.stdout
    text = metrics_file.read_text()
    assert 'synthetic_runs_total{status="completed"} 1.0' in text
    assert not list(tmp_path.glob("synthetic.prom.*"))  # the temporary file was renamed into place


def test_once_with_a_state_file_keeps_every_cycles_runs_and_hourly_totals_in_it(tmp_path: Path) -> None:
    folder = journeys(tmp_path, {"test_ok.py": "def test_ok():\n    pass\n"})
    state = tmp_path / "state.json"
    for _ in range(2):
        result = run_cli("--once", "--journeys", str(folder), "--state-file", str(state))
        assert result.returncode == 0, result.stdout + result.stderr
    kept = json.loads(state.read_text())
    assert [run["passed"] for run in kept["runs"]["test_ok.py::test_ok"]] == [True, True]
    uptime = Uptime()
    uptime.restore(kept["uptime"], time.time())
    assert sum(runs for _, runs, *_ in uptime.days("test_ok.py::test_ok", time.time())) == 2


def test_a_single_journey_file_gives_ids_relative_to_its_folder(target: str) -> None:
    result = run_cli("--once", "--journeys", "journeys/test_health.py", env={"TARGET_URL": target})
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if line.startswith("passed")]
    assert [row[-1] for row in rows] == ["test_health.py::test_service_reports_itself_healthy"]


def test_once_exits_1_when_a_journey_fails(target: str) -> None:
    require_binary("chromium", "chromium")
    set_faults(target, {"error_rate": 1, "status_codes": [401]})
    result = run_cli("--once", env={"TARGET_URL": target})
    assert result.returncode == 1
    assert "1 passed, 3 failed" in result.stdout  # the health check passes; the booking journeys, browser too, fail
    assert "answered 401" in result.stdout


def test_once_exits_1_on_a_broken_journey_file(tmp_path: Path) -> None:
    folder = journeys(tmp_path, {"test_ok.py": "def test_ok():\n    pass\n", "test_bad.py": "def (:\n"})
    result = run_cli("--once", "--journeys", str(folder))
    assert result.returncode == 1
    assert "BROKEN" in result.stdout and "test_bad.py" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--interval", "abc"], "--interval must be a positive number of seconds, got 'abc'"),
        (["--interval", "0"], "--interval must be a positive number of seconds, got '0'"),
        (["--interval", "-5"], "--interval must be a positive number of seconds, got '-5'"),
        (["--journeys", "/nonexistent/journeys"], "journeys folder '/nonexistent/journeys' does not exist"),
        (["--workers", "many"], "--workers must be a whole number"),
        (["--once", "--", "--no-such-pytest-option"], "pytest rejected its arguments"),
        (["--", "-n", "4"], "use the runner's --workers N instead"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_no_traceback(args: list[str], message: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_port_in_use_exits_2_before_anything_starts(tmp_path: Path) -> None:
    runner, url = start_runner(tmp_path, "--interval", "60", env={"TARGET_URL": f"http://127.0.0.1:{free_port()}"})
    try:
        port = url.rsplit(":", 1)[1]
        result = run_cli("--port", port, "--interval", "60")
        assert result.returncode == 2
        assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
        assert "journeys collected" not in result.stdout
    finally:
        runner.stop()


def test_logs_are_json_lines_when_not_on_a_terminal(target: str, tmp_path: Path) -> None:
    require_binary("chromium", "chromium")
    runner, url = start_runner(tmp_path, "--interval", "1", env={"TARGET_URL": target})
    try:
        wait_for_runs(url, 1)
    finally:
        runner.stop()
    events = [json.loads(line) for line in runner.output().splitlines() if line.startswith("{")]
    cycle = next(event for event in events if event["event"] == "cycle completed")
    assert cycle["passed"] == DEMO_JOURNEYS and cycle["failed"] == 0 and "duration_seconds" in cycle


def test_every_cycle_logs_its_start_against_the_grid_from_the_first(tmp_path: Path) -> None:
    folder = journeys(tmp_path, {"test_ok.py": "def test_ok():\n    pass\n"})
    runner, url = start_runner(tmp_path, "--journeys", str(folder), "--interval", "0.5")
    try:
        wait_for_runs(url, 3)
    finally:
        runner.stop()
    events = [json.loads(line) for line in runner.output().splitlines() if '"cycle completed"' in line]
    assert len(events) >= 3
    for event in events:
        assert 0 <= event["start_lag_seconds"] < 0.5
        assert event["started_at"] - event["scheduled_at"] == pytest.approx(event["start_lag_seconds"], abs=1e-5)


def test_the_demo_journeys_turn_degraded_under_the_services_latency_fault(target: str) -> None:
    set_faults(target, {"latency_ms": [600, 700], "error_rate": 0})
    try:
        result = run_cli("--once", "--journeys", "journeys/test_reservations.py", env={"TARGET_URL": target})
    finally:
        set_faults(target, {"latency_ms": [0, 0]})
    assert result.returncode == 0, result.stdout + result.stderr  # slow is not failed
    lines = [line.strip() for line in result.stdout.splitlines() if not line.startswith("{")]
    made = lines.index(next(line for line in lines if line.endswith("test_user_can_make_a_reservation")))
    assert lines[made].startswith("DEGRADED")
    assert re.fullmatch(r"took \d+\.\d\d s, degraded after 1\.00 s", lines[made + 1]), lines
    booked = lines.index(
        next(line for line in lines if line.endswith("test_guest_can_book_read_and_cancel_a_reservation"))
    )
    assert lines[booked].startswith("DEGRADED")
    assert re.match(r"step 'book' took \d+\.\d\d s, degraded after 0\.50 s", lines[booked + 1]), lines
    assert "2 passed (2 degraded), 0 failed" in result.stdout
