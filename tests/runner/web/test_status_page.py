"""The status page in a real browser, the results API, secrets kept out, history across restarts."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.processes import REPO_ROOT, metric, require_binary, require_module, scrape, start_runner, wait_for

pytestmark = pytest.mark.slow
SECRET = "pl4nted-s3cret-value"
ARTIFACTS = REPO_ROOT / "test-artifacts"

JOURNEYS = """
    import os
    import pytest

    def test_guest_can_browse():
        pass

    def test_guest_can_log_in():
        assert False, f"login refused for token {os.environ['SHOP_API_TOKEN']}"

    @pytest.mark.parametrize("name", ["<script>window.pwned = 1; document.title = 'pwned'</script>"])
    def test_search(name):
        assert name == "ok"
"""


def write_journeys(tmp_path: Path) -> Path:
    folder = tmp_path / "journeys"
    folder.mkdir()
    (folder / "test_shop.py").write_text(textwrap.dedent(JOURNEYS))
    return folder


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    folder = write_journeys(tmp_path)
    process, url = start_runner(tmp_path, "--journeys", str(folder), "--interval", "1", env={"SHOP_API_TOKEN": SECRET})
    try:
        wait_for(lambda: (metric(scrape(url), "synthetic_runs_total", status="completed") or 0) >= 2, 60, "2 cycles")
        yield url, process
    finally:
        process.stop()


def test_status_page_in_a_real_browser(runner: tuple[str, Any]) -> None:
    url, _ = runner
    playwright = require_module("playwright.sync_api", "playwright (in the dev extra)")
    chromium = require_binary("chromium", "chromium")
    dialogs: list[str] = []
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=chromium,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 700})

            def on_dialog(dialog: Any) -> None:
                dialogs.append(dialog.message)
                dialog.dismiss()

            page.on("dialog", on_dialog)
            page.goto(url + "/")
            assert page.inner_text("#banner") == "2 of 3 journeys failing"
            rows = page.locator("#journeys tbody tr")
            assert rows.count() == 3
            states = {
                rows.nth(i).locator(".journey").inner_text(): rows.nth(i).locator(".state").inner_text()
                for i in range(3)
            }
            assert states == {
                "test_shop.py::test_guest_can_browse": "passing",
                "test_shop.py::test_guest_can_log_in": "failing",
                "test_shop.py::test_search[<script>window.pwned = 1; document.title = 'pwned'</script>]": "failing",
            }
            text = page.inner_text("body")
            assert "assertion: AssertionError: login refused for token ***" in text
            assert SECRET not in page.content()
            assert page.locator("svg.chart").count() == 3
            assert page.locator("svg.chart circle").count() >= 4  # two failing journeys, two runs each at least
            assert page.evaluate("window.pwned") is None
            assert "pwned" not in page.title()
            assert dialogs == []
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "status-page.png"), full_page=True)
        finally:
            browser.close()


def test_results_api_and_security_headers(runner: tuple[str, Any]) -> None:
    url, process = runner
    response = requests.get(f"{url}/api/results", timeout=5)
    assert response.headers["Content-Type"] == "application/json"
    results = response.json()
    journeys = {journey["journey"]: journey for journey in results["journeys"]}
    login = journeys["test_shop.py::test_guest_can_log_in"]
    assert login["state"] == "failing" and login["reason"] == "assertion"
    assert login["message"].startswith("AssertionError: login refused for token ***")
    assert len(login["history"]) >= 2 and not any(run["passed"] for run in login["history"])
    assert login["failing_since"] <= login["history"][0]["at"]
    assert journeys["test_shop.py::test_guest_can_browse"]["state"] == "passing"
    assert results["last_cycle"]["failed"] == 2 and results["interval_seconds"] == 1.0

    page = requests.get(f"{url}/", timeout=5)
    assert "script-src" not in page.headers["Content-Security-Policy"]
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["X-Frame-Options"] == "DENY"

    for body in (response.text, page.text, requests.get(f"{url}/metrics", timeout=5).text, process.output()):
        assert SECRET not in body


def test_history_survives_a_restart_with_a_state_file(tmp_path: Path) -> None:
    folder = write_journeys(tmp_path)
    state = tmp_path / "state.json"
    args = ("--journeys", str(folder), "--interval", "1", "--state-file", str(state), "--history", "3")
    process, url = start_runner(tmp_path, *args, env={"SHOP_API_TOKEN": SECRET})
    try:
        wait_for(lambda: (metric(scrape(url), "synthetic_runs_total", status="completed") or 0) >= 4, 60, "4 cycles")
    finally:
        process.stop()
    before = json.loads(state.read_text())
    assert all(len(runs) == 3 for runs in before["runs"].values())  # bounded by --history
    assert SECRET not in state.read_text()

    process, url = start_runner(tmp_path, *args, "--interval", "60", env={"SHOP_API_TOKEN": SECRET}, name="restarted")
    try:
        results = requests.get(f"{url}/api/results", timeout=5).json()
    finally:
        process.stop()
    restored = {journey["journey"]: journey for journey in results["journeys"]}
    login = restored["test_shop.py::test_guest_can_log_in"]
    assert len(login["history"]) >= 3 and login["state"] == "failing"
    assert login["failing_since"] == before["failing_since"]["test_shop.py::test_guest_can_log_in"]
