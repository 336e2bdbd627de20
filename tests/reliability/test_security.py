"""Security: secrets never leave, labels stay bounded, the HTTP surface is read-only, images are non-root."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.processes import REPO_ROOT, metric, scrape, wait_for
from tests.reliability.support import running, write

pytestmark = [pytest.mark.slow, pytest.mark.reliability]
SECRET = "0nly-in-the-env-7f3a9c"


def test_a_planted_secret_is_in_none_of_the_outputs(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "journeys",
        {
            "test_leak.py": """
                import os, pytest

                @pytest.fixture
                def session_token():
                    token = os.environ["PAYMENTS_API_TOKEN"]
                    print("using", token)
                    yield token

                def test_pay(session_token):
                    assert session_token == "expected", f"token {session_token} was rejected"

                def test_other_name():
                    raise RuntimeError("db said: " + os.environ["DB_DSN"])

                @pytest.mark.parametrize("value", [os.environ["PAYMENTS_API_TOKEN"]])
                def test_param(value):
                    assert not value
            """
        },
    )
    state = tmp_path / "state.json"
    env = {"PAYMENTS_API_TOKEN": SECRET, "DB_DSN": "postgres://app:hunter2secret@db/app"}
    with running(
        tmp_path, folder, "--interval", "1", "--state-file", str(state), "--secret-env", "DB_DSN", env=env
    ) as runner:
        runner.wait_cycles(2)
        outputs = {
            "/metrics": requests.get(f"{runner.url}/metrics", timeout=5).text,
            "/": requests.get(f"{runner.url}/", timeout=5).text,
            "/api/results": requests.get(f"{runner.url}/api/results", timeout=5).text,
        }
        results = json.loads(outputs["/api/results"])
    outputs["logs"] = runner.process.output()
    outputs["state file"] = state.read_text()
    once = subprocess.run(
        [sys.executable, "-m", "runner", "--once", "--journeys", str(folder), "--secret-env", "DB_DSN"],
        cwd=REPO_ROOT,
        env={**dict(__import__("os").environ), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    outputs["--once"] = once.stdout + once.stderr
    for where, text in outputs.items():
        assert SECRET not in text, where
        assert "hunter2secret" not in text, where
    messages = {journey["journey"]: journey["message"] for journey in results["journeys"]}
    assert "token *** was rejected" in messages["test_leak.py::test_pay"]
    assert "db said: ***" in messages["test_leak.py::test_other_name"]
    assert "test_leak.py::test_param[***]" in messages


def test_ten_thousand_parametrized_ids_are_capped_logged_and_counted(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "journeys",
        {"test_many.py": "import pytest\n\n@pytest.mark.parametrize('n', range(10_000))\ndef test_id(n):\n    pass\n"},
    )
    with running(tmp_path, folder, "--interval", "5", "--max-journeys", "300", "--workers", "2") as runner:
        runner.wait_cycles(1, timeout=180)
        samples = scrape(runner.url)
        journeys = {dict(labels)["journey"] for name, labels in samples if name == "synthetic_journey_success"}
        assert len(journeys) == 300
        assert metric(samples, "synthetic_journeys_over_cap") == 9_700
        assert metric(samples, "synthetic_journeys") == 300
        assert requests.get(f"{runner.url}/healthz", timeout=5).status_code == 200
        warnings = runner.events("journeys over the cap were not run")
        assert warnings and warnings[0]["over_cap"] == 9_700 and warnings[0]["max_journeys"] == 300


def test_ten_thousand_ids_under_the_default_cap_do_not_take_the_runner_down(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "journeys",
        {"test_many.py": "import pytest\n\n@pytest.mark.parametrize('n', range(10_000))\ndef test_id(n):\n    pass\n"},
    )
    with running(tmp_path, folder, "--interval", "30", "--workers", "2") as runner:
        runner.wait_cycles(1, timeout=240)
        samples = scrape(runner.url)
        assert metric(samples, "synthetic_journeys") == 2000
        assert metric(samples, "synthetic_journeys_over_cap") == 8000
        wait_for(lambda: requests.get(f"{runner.url}/", timeout=10).status_code == 200, 30, "the page")


def test_only_get_is_served_and_the_page_sends_security_headers(tmp_path: Path) -> None:
    folder = write(tmp_path / "journeys", {"test_ok.py": "def test_ok():\n    pass\n"})
    with running(tmp_path, folder, "--interval", "1") as runner:
        runner.wait_cycles(1)
        for path in ("/", "/metrics", "/healthz", "/api/results"):
            assert requests.get(f"{runner.url}{path}", timeout=5).status_code == 200, path
            for method in ("POST", "PUT", "DELETE", "PATCH"):
                response = requests.request(method, f"{runner.url}{path}", data=b"x", timeout=5)
                assert response.status_code == 405, (method, path)
                assert response.headers["Allow"] == "GET, HEAD"
        page = requests.get(f"{runner.url}/", timeout=5).headers
        assert page["Content-Security-Policy"].startswith("default-src 'none'")
        assert "script-src" not in page["Content-Security-Policy"]
        assert page["X-Frame-Options"] == "DENY"
        assert page["X-Content-Type-Options"] == "nosniff"
        assert page["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "target_service/Dockerfile"])
def test_container_images_run_as_a_non_root_user_with_an_exec_form_command(dockerfile: str) -> None:
    text = (REPO_ROOT / dockerfile).read_text()
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    user, _, group = users[-1].partition(":") if users else ("", "", "")
    assert users and user not in ("root", "0") and group not in ("root", "0"), users
    assert int(user) >= 1000 and (not group or int(group) >= 1000), users
    command = re.findall(r"^CMD\s+(.+)$", text, re.MULTILINE)[-1]
    assert json.loads(command)[0]  # exec form: a JSON array, no shell
    assert "HEALTHCHECK" in text
