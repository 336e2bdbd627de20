"""Browser journeys with the system's Chromium: under plain pytest and under the runner, traced, with evidence."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import requests

from runner.journey.browser import CHROMIUM_ENV, NO_CHROMIUM, find_chromium, launch_settings, missing_browser
from tests.processes import REPO_ROOT, journeys, require_binary, start_runner, wait_for

BOOKING = """
    import re
    from playwright.sync_api import expect

    def test_guest_books_a_table(page, target_url):
        page.goto(f"{target_url}/book")
        page.fill("#username", "synthetic")
        page.click("button[type=submit]")
        expect(page.locator("#result")).to_have_text(re.compile("^Booked: reservation"), timeout=5000)

    def test_the_page_says_hello(page, target_url):
        page.goto(f"{target_url}/book?token=s3cr3t-value")
        assert page.title() == "Hello", "the booking page is not the hello page"
"""
PLAIN = """
    def test_health(http, target_url):
        assert http.get(f"{target_url}/healthz").status_code == 200
"""


def test_the_system_chromium_is_found_on_path_or_through_the_variable(tmp_path: Path) -> None:
    fake = tmp_path / "my-chrome"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert find_chromium({CHROMIUM_ENV: str(fake)}) == str(fake)
    assert find_chromium({CHROMIUM_ENV: str(tmp_path / "missing")}) is None
    settings = launch_settings({"headless": True}, {CHROMIUM_ENV: str(fake)})
    assert settings["executable_path"] == str(fake) and settings["headless"] is True
    assert ("--no-sandbox" in settings["args"]) is (os.geteuid() == 0)


def test_a_suites_own_browser_settings_are_kept() -> None:
    own = {"executable_path": "/opt/chrome/chrome", "args": ["--lang=de"]}
    settings = launch_settings(own, {CHROMIUM_ENV: "/nonexistent"})
    assert settings["executable_path"] == "/opt/chrome/chrome" and settings["args"][0] == "--lang=de"
    assert "channel" not in settings and launch_settings({"channel": "chrome"}, {})["channel"] == "chrome"


def test_a_launch_without_a_browser_is_one_line_saying_so() -> None:
    error = "BrowserType.launch: Executable doesn't exist at /root/.cache/ms-playwright/chromium-1/chrome\n" * 3
    assert missing_browser(error, {}) == NO_CHROMIUM and "\n" not in NO_CHROMIUM
    assert missing_browser(error, {CHROMIUM_ENV: "/opt/x"}) == f"{CHROMIUM_ENV}=/opt/x: no such executable"
    assert missing_browser("Timeout 30000ms exceeded", {}) == ""


@pytest.mark.slow
def test_plain_pytest_runs_a_browser_journey_on_the_system_chromium_with_trace_context(
    tmp_path: Path, target_factory: object
) -> None:
    require_binary("chromium", "chromium")
    target = target_factory("--faults", "none")  # type: ignore[operator]
    folder = journeys(tmp_path, {"test_booking.py": BOOKING})
    # A suite that overrides pytest-playwright's launch fixture itself still gets the system's Chromium.
    (folder / "conftest.py").write_text(
        textwrap.dedent("""
            import pytest

            @pytest.fixture(scope="session")
            def browser_type_launch_args():
                return {"headless": True}
        """)
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider", str(folder), "-k", "books"],
        cwd=tmp_path,
        env={**os.environ, "TARGET_URL": target},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
    log = Path(tmp_path / "target-0.log").read_text()
    booked = [line for line in log.splitlines() if '"url": "/reservations"' in line and '"status": 200' in line]
    assert booked and '"trace_id": null' not in booked[0], "the page's request carried the run's traceparent"


@pytest.mark.slow
def test_without_a_browser_browser_journeys_fail_in_one_line_and_the_others_run(tmp_path: Path, target: str) -> None:
    folder = journeys(tmp_path, {"test_booking.py": BOOKING, "test_plain.py": PLAIN})
    done = subprocess.run(
        [sys.executable, "-m", "runner", "--once", "--journeys", str(folder)],
        cwd=REPO_ROOT,
        env={**os.environ, "TARGET_URL": target, CHROMIUM_ENV: str(tmp_path / "no-chromium-here")},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 1
    assert "passed      " in done.stdout and "test_plain.py::test_health" in done.stdout
    table = [line.strip() for line in done.stdout.splitlines() if not line.startswith("{")]
    failures = [line for line in table if CHROMIUM_ENV in line]
    # The browser is a session fixture: its failure blocks both browser journeys, and names itself.
    missing = f"{CHROMIUM_ENV}={tmp_path / 'no-chromium-here'}: no such executable"
    assert failures == [f"blocked: fixture 'browser' (session) failed: {missing}"] * 2, table


@pytest.mark.slow
def test_a_failed_browser_journey_leaves_a_served_screenshot_and_its_page_url(tmp_path: Path, target: str) -> None:
    require_binary("chromium", "chromium")
    folder = journeys(tmp_path, {"test_booking.py": BOOKING})
    temp = tmp_path / "tmp"
    temp.mkdir()
    process, url = start_runner(
        tmp_path,
        "--interval",
        "2",
        "--journeys",
        str(folder),
        env={
            "TARGET_URL": target,
            "SYNTHETIC_SECRET_ENV": "PAGE_TOKEN",
            "PAGE_TOKEN": "s3cr3t-value",
            "TMPDIR": str(temp),
        },
    )
    try:

        def evidence() -> dict[str, object] | None:
            for journey in requests.get(f"{url}/api/results", timeout=5).json()["journeys"]:
                if journey["journey"].endswith("test_the_page_says_hello[chromium]") and journey["artifacts"]:
                    return dict(journey)
            return None

        journey = wait_for(evidence, 90, "a failed browser journey's evidence in /api/results")
        items = {item["kind"]: item["url"] for item in journey["artifacts"]}
        assert items["page"].endswith("/book?token=***"), "the page URL is masked like every secret"
        assert isinstance(journey["artifacts_at"], float)
        shot = requests.get(f"{url}{items['screenshot']}", timeout=5)
        assert shot.status_code == 200 and shot.headers["Content-Type"] == "image/png"
        assert shot.content.startswith(b"\x89PNG")
        assert items["screenshot"] in requests.get(f"{url}/", timeout=5).text
        for bad in ("/artifacts/../../etc/passwd", "/artifacts/%2e%2e/index.json", "/artifacts/", "/artifacts/x.png"):
            assert requests.get(f"{url}{bad}", timeout=5).status_code == 404, bad
        booked = [
            j for j in requests.get(f"{url}/api/results", timeout=5).json()["journeys"] if "books" in j["journey"]
        ]
        assert booked and booked[0]["state"] == "passing" and booked[0]["artifacts"] == []
        # The browser starts once per worker (a session fixture): its start is timed apart, not in a journey.
        metrics = requests.get(f"{url}/metrics", timeout=5).text
        assert 'synthetic_fixture_duration_count{fixture="browser",phase="setup",scope="session"}' in metrics
    finally:
        process.stop()
    assert list(temp.glob("synthetic-monitor-artifacts-*")) == [], "the evidence went with the runner"
    assert not (REPO_ROOT / "test-results").exists(), "pytest-playwright's output stays in the cycle's folder"
