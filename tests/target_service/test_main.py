"""The real service process: started on a free loopback port, driven by the real journeys."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import requests

from tests.conftest import StartTarget
from tests.processes import REPO_ROOT, free_port, require_binary, set_faults, start_target
from tests.target_service.test_tracecontext import SPAN_ID, TRACE_ID


def run_journeys(target_url: str, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "journeys", "-q", "-p", "no:cacheprovider", *extra],
        cwd=REPO_ROOT,
        env={"PATH": "/usr/bin:/bin", "TARGET_URL": target_url, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_journeys_pass_against_a_healthy_service_and_fail_once_500s_are_forced(target: str) -> None:
    require_binary("chromium", "chromium")  # journeys/ has a browser journey
    healthy = run_journeys(target)
    assert healthy.returncode == 0, healthy.stdout
    assert "4 passed" in healthy.stdout

    set_faults(target, {"error_rate": 1, "status_codes": [500]})
    broken = run_journeys(target)
    assert broken.returncode == 1
    assert "3 failed, 1 passed" in broken.stdout  # the health check still passes
    assert "answered 500" in broken.stdout


def test_journeys_fail_on_400_and_401_too(target: str) -> None:
    require_binary("chromium", "chromium")
    set_faults(target, {"error_rate": 1, "status_codes": [400, 401]})
    result = run_journeys(target)
    assert result.returncode == 1
    assert "3 failed" in result.stdout


def test_journeys_send_the_api_token_and_synthetic_headers(target_factory: StartTarget) -> None:
    url = target_factory("--faults", "none", env={"TARGET_API_TOKEN": "t0ken"})
    assert run_journeys(url, env={"TARGET_API_TOKEN": "t0ken"}).returncode == 0
    without = run_journeys(url)
    assert without.returncode == 1 and "answered 401" in without.stdout


def test_target_url_option_beats_the_environment(target: str) -> None:
    result = run_journeys("http://127.0.0.1:9", f"--target-url={target}")
    assert result.returncode == 0, result.stdout


def test_the_posts_variable_name_is_honoured(target: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "journeys", "-q", "-p", "no:cacheprovider"],
        cwd=REPO_ROOT,
        env={"PATH": "/usr/bin:/bin", "RESERVATIONS_SERVICE_URL": target},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout


def test_journeys_fail_fast_when_the_target_is_down() -> None:
    require_binary("chromium", "chromium")
    result = run_journeys(f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert "4 failed" in result.stdout
    assert "Connection refused" in result.stdout or "ConnectionError" in result.stdout


def test_bad_http_timeout_is_a_one_line_usage_error(target: str) -> None:
    result = run_journeys(target, env={"SYNTHETIC_HTTP_TIMEOUT": "soon"})
    assert result.returncode != 0
    assert "SYNTHETIC_HTTP_TIMEOUT must be a positive number of seconds, got 'soon'" in result.stdout + result.stderr


def test_admin_token_is_enforced_over_the_network(target_factory: StartTarget) -> None:
    url = target_factory("--faults", "none", env={"TARGET_ADMIN_TOKEN": "adm"})
    assert requests.put(f"{url}/admin/faults", json={"error_rate": 1}, timeout=5).status_code == 401
    set_faults(url, {"error_rate": 1}, token="adm")
    assert (
        requests.get(f"{url}/admin/faults", headers={"Authorization": "Bearer adm"}, timeout=5).json()["error_rate"]
        == 1.0
    )


def test_seed_faults_are_the_default(target_factory: StartTarget) -> None:
    url = target_factory()
    settings = requests.get(f"{url}/admin/faults", timeout=5).json()
    assert settings["status_codes"] == [400, 401, 500]
    assert settings["latency_ms"] == [1, 100]


def test_bad_command_line_exits_2_with_one_line() -> None:
    for args in (["--port", "http"], ["--port", "70000"], ["--faults", "chaos"]):
        result = subprocess.run(
            [sys.executable, "-m", "target_service", *args], capture_output=True, text=True, timeout=30
        )
        assert result.returncode == 2
        assert result.stderr.strip().splitlines()[-1].startswith("python -m target_service: error:")


def test_port_in_use_exits_2_naming_the_address(target: str) -> None:
    port = target.rsplit(":", 1)[1]
    result = subprocess.run(
        [sys.executable, "-m", "target_service", "--port", port], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_a_failed_requests_trace_id_is_in_the_services_log_line_for_that_request(tmp_path: Path) -> None:
    process, url = start_target(tmp_path, "--faults", "none")
    try:
        ok_trace = "1" * 32
        requests.get(f"{url}/healthz", headers={"traceparent": f"00-{ok_trace}-{SPAN_ID}-01"}, timeout=5)
        set_faults(url, {"error_rate": 1, "status_codes": [500]})
        response = requests.post(
            f"{url}/reservations",
            json={"username": "synthetic"},
            headers={"traceparent": f"00-{TRACE_ID}-{SPAN_ID}-01"},
            timeout=5,
        )
        assert response.status_code == 500
        found = process.wait_for_output(rf'\{{[^\n]*"trace_id": "{TRACE_ID}"[^\n]*\}}', timeout=10)
        line = json.loads(found.group(0))
        assert {key: line[key] for key in ("event", "logger", "method", "path", "status", "span_id")} == {
            "event": "request",
            "logger": "target_service.access",
            "method": "POST",
            "path": "/reservations",
            "status": 500,
            "span_id": SPAN_ID,
        }
        output = process.output()
        assert output.count(TRACE_ID) == 1 and output.count(ok_trace) == 1
    finally:
        process.stop()
    # Every line but the address banner is one JSON object: one a request, with a trace_id key even when null.
    lines = [json.loads(text) for text in output.splitlines() if not text.startswith("Reservations Service listening")]
    requests_logged = [line for line in lines if line["event"] == "request"]
    assert [line["trace_id"] for line in requests_logged] == [ok_trace, None, TRACE_ID]
