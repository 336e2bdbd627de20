"""Core Web Vitals of browser journeys: measured on the system's Chromium, per attempt, the worst per vital.

The browser tests run one plain pytest over a suite of journeys (one Chromium for all of them) against the
Reservations Service and a small page server in this process; the suite's conftest writes down what
``vitals(item)`` gave after each attempt.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import pytest

from runner.handoff.observations import VITALS, rating
from runner.journey.vitals import BINDING, MAX_DOCUMENTS, SECTION, Measured, _binding, section, worst
from tests.processes import journeys, require_binary, start_target

SLOW_SECONDS = 0.4
TEXT = "<p>" + "Tables by the window, tables by the fire. " * 30 + "</p>"
PAGES = {
    "/still": f"<!doctype html><title>Still</title><h1>Nothing moves</h1>{TEXT}",
    # A banner pushes the content down after the first paint; the page says when the browser saw the shift.
    "/shift": f"""<!doctype html><title>Shift</title><div style="height:600px"><h1>Moves</h1>{TEXT}</div>
        <script>
        setTimeout(() => {{
          const banner = document.createElement("div");
          banner.style.height = "400px";
          banner.textContent = "Offer!";
          document.body.prepend(banner);
          new PerformanceObserver(() => (document.title = "shifted")).observe({{type: "layout-shift"}});
        }}, 300);
        </script>""",
    "/framed": f"<!doctype html><title>Framed</title><h1>With a slow frame</h1>{TEXT}<iframe src='/slow'></iframe>",
    # What a hostile page could send through the binding, from its main frame and from an iframe.
    "/hostile": f"""<!doctype html><title>Hostile</title><h1>Hostile</h1>{TEXT}
        <iframe srcdoc="<script>window.{BINDING}('frame', 'ttfb', 9)</script>"></iframe>
        <script>
        const send = window.{BINDING};
        send("evil", "lcp", -1); send("evil", "fcp", NaN); send("evil", "ttfb", Infinity);
        send("evil", "cls", "0.5"); send("evil", "tbt", 1); send({{}}, "inp", 1); send("evil", "inp", 1, 2);
        </script>""",
}
PAGES["/slow"] = PAGES["/still"]
SUITE = {
    "conftest.py": """
        import json, os
        import pytest
        from runner.journey.vitals import vitals

        @pytest.hookimpl(trylast=True)
        def pytest_runtest_teardown(item):
            with open(os.environ["VITALS_OUT"], "a") as out:
                out.write(json.dumps([item.originalname, dict(vitals(item))]) + "\\n")
    """,
    "test_pages.py": """
        import os, re
        import pytest
        from playwright.sync_api import expect

        PAGES = os.environ["PAGES_URL"]
        PAINTED = "() => performance.getEntriesByName('first-contentful-paint').length > 0"

        def test_booking(page, target_url):
            page.goto(f"{target_url}/book")
            page.fill("#username", "synthetic")
            page.click("button[type=submit]")
            expect(page.locator("#result")).to_have_text(re.compile("^Booked: reservation"), timeout=5000)

        def test_slow(page):
            page.goto(f"{PAGES}/slow")

        def test_still(page):
            page.goto(f"{PAGES}/still")

        def test_shift(page):
            page.goto(f"{PAGES}/shift")
            page.wait_for_function("document.title == 'shifted'", timeout=5000)

        def test_slow_then_fast(page):
            page.goto(f"{PAGES}/slow")
            page.wait_for_function(PAINTED, timeout=5000)
            page.goto(f"{PAGES}/still")

        def test_framed(page):
            page.goto(f"{PAGES}/framed")

        def test_hostile(page):
            page.goto(f"{PAGES}/hostile")

        def test_nothing(page):
            pass

        @pytest.mark.flaky(reruns=1)
        def test_retried(page, request):
            if request.node.execution_count == 1:
                page.goto(f"{PAGES}/slow")
                page.wait_for_function(PAINTED, timeout=5000)
                raise AssertionError("the first attempt fails")
            page.goto(f"{PAGES}/still")
    """,
}


class _Pages(BaseHTTPRequestHandler):
    """The test pages; /slow answers after SLOW_SECONDS."""

    def do_GET(self) -> None:
        if self.path == "/slow":
            time.sleep(SLOW_SECONDS)
        body = PAGES.get(self.path, "").encode()
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the browser drops connections it no longer needs


@pytest.fixture(scope="module")
def page_server() -> Iterator[str]:
    """The test pages on a free loopback port; their base URL."""
    server = _QuietServer(("127.0.0.1", 0), _Pages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, page_server: str) -> tuple[dict[str, list[dict[str, float]]], str]:
    """The suite's journeys under plain pytest: {journey: vitals after each attempt}, and pytest's output."""
    require_binary("chromium", "chromium")
    tmp_path = tmp_path_factory.mktemp("vitals")
    process, target = start_target(tmp_path, "--faults", "none")
    out = tmp_path / "vitals.jsonl"
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider", "-rA"],
            cwd=journeys(tmp_path, SUITE),
            env={**os.environ, "TARGET_URL": target, "PAGES_URL": page_server, "VITALS_OUT": str(out)},
            capture_output=True,
            text=True,
            timeout=180,
        )
    finally:
        process.stop()
    assert done.returncode == 0 and "9 passed" in done.stdout and "1 rerun" in done.stdout, done.stdout + done.stderr
    found: dict[str, list[dict[str, float]]] = {}
    for line in out.read_text().splitlines():
        journey, values = json.loads(line)
        found.setdefault(journey, []).append(values)
    return found, done.stdout


def last(runs: tuple[dict[str, list[dict[str, float]]], str], journey: str) -> dict[str, float]:
    """The vitals of ``journey``'s last attempt."""
    return runs[0][journey][-1]


@pytest.mark.slow
def test_a_booking_journey_has_plausible_paint_timings_layout_shift_and_the_interaction_of_its_click(
    runs: tuple[dict[str, list[dict[str, float]]], str],
) -> None:
    found = last(runs, "test_booking")
    assert list(found) == ["lcp", "fcp", "cls", "ttfb", "inp"], found
    assert 0 < found["ttfb"] <= found["fcp"] <= found["lcp"] < 10, found
    assert found["cls"] >= 0 and 0 < found["inp"] < 10, found


@pytest.mark.slow
def test_plain_pytest_shows_each_vital_with_its_rating_as_the_call_ends(
    runs: tuple[dict[str, list[dict[str, float]]], str],
) -> None:
    passes = runs[1].partition("= PASSES =")[2]
    shown = dict(re.findall(rf"_ (test_\w+)\[chromium\] _+\n-+ {SECTION} -+\n(.*?)\n(?:_|=)", passes, re.DOTALL))
    # What the pages measured by the end of the call is all there is: teardown adds nothing.
    assert shown == {journey: section(last(runs, journey).items()) for journey in runs[0] if last(runs, journey)}
    ttfb = re.search(r"^ttfb +(\d+\.\d{3}) s  (good|needs improvement|poor)$", shown["test_slow"], re.MULTILINE)
    assert ttfb and float(ttfb[1]) >= SLOW_SECONDS and ttfb[2] == rating("ttfb", float(ttfb[1])), shown


@pytest.mark.slow
def test_a_slow_answer_is_the_pages_time_to_first_byte(runs: tuple[dict[str, list[dict[str, float]]], str]) -> None:
    assert last(runs, "test_slow")["ttfb"] >= SLOW_SECONDS
    assert last(runs, "test_still")["ttfb"] < SLOW_SECONDS


@pytest.mark.slow
def test_content_pushed_down_after_the_first_paint_is_layout_shift(
    runs: tuple[dict[str, list[dict[str, float]]], str],
) -> None:
    assert last(runs, "test_shift")["cls"] > 0.1
    assert last(runs, "test_still")["cls"] < 0.01


@pytest.mark.slow
def test_a_page_the_journey_left_keeps_its_worst_values(runs: tuple[dict[str, list[dict[str, float]]], str]) -> None:
    found = last(runs, "test_slow_then_fast")
    assert found["ttfb"] >= SLOW_SECONDS and found["fcp"] >= SLOW_SECONDS, found
    assert last(runs, "test_still")["fcp"] < SLOW_SECONDS, "the fast page alone paints sooner"


@pytest.mark.slow
def test_without_interaction_there_is_no_inp_and_without_a_page_no_vitals(
    runs: tuple[dict[str, list[dict[str, float]]], str],
) -> None:
    assert "inp" not in last(runs, "test_still") and "lcp" in last(runs, "test_still")
    assert last(runs, "test_nothing") == {}


@pytest.mark.slow
def test_only_the_main_frame_counts_and_a_page_cannot_send_bad_values(
    runs: tuple[dict[str, list[dict[str, float]]], str],
) -> None:
    assert last(runs, "test_framed")["ttfb"] < SLOW_SECONDS, "the slow iframe's answer is not the page's"
    hostile = last(runs, "test_hostile")
    assert set(hostile) == {"lcp", "fcp", "cls", "ttfb"}, hostile
    assert all(0 <= value < 9 and math.isfinite(value) for value in hostile.values()), hostile


@pytest.mark.slow
def test_a_retried_attempt_does_not_keep_the_failed_attempts_values(
    runs: tuple[dict[str, list[dict[str, float]]], str],
) -> None:
    first, second = runs[0]["test_retried"]
    assert first["ttfb"] >= SLOW_SECONDS
    assert second["ttfb"] < SLOW_SECONDS and second["fcp"] < SLOW_SECONDS, second


def test_each_vital_is_the_worst_over_the_documents_in_the_order_of_vitals() -> None:
    documents = [{"inp": 0.1, "lcp": 2.0}, {"lcp": 3.0, "cls": 0.0}, {"ttfb": 0.2, "cls": 0.3}]
    assert worst(documents) == (("lcp", 3.0), ("cls", 0.3), ("ttfb", 0.2), ("inp", 0.1))
    assert worst([]) == ()
    assert [vital for vital, _ in worst([dict.fromkeys(VITALS, 1.0)])] == list(VITALS)


def test_a_documents_latest_value_counts_and_bad_values_are_ignored() -> None:
    measured = Measured()
    measured.record("doc", "inp", 0.5)
    measured.record("doc", "inp", 0.3)  # with more interactions the 98th percentile can go down
    measured.record("doc", "cls", 0)  # JavaScript's integers arrive as ints
    for bad in (-1, math.nan, math.inf, 10**400, "0.5", True, None):
        measured.record("doc", "lcp", bad)
    for document, vital in (("doc", "tbt"), ("", "lcp"), ("x" * 1000, "lcp"), (None, "lcp"), ("doc", ["lcp"])):
        measured.record(document, vital, 1.0)
    assert measured.documents == {"doc": {"inp": 0.3, "cls": 0.0}}
    for number in range(MAX_DOCUMENTS + 5):
        measured.record(f"doc-{number}", "cls", 0.1)
    assert len(measured.documents) == MAX_DOCUMENTS


def test_only_a_pages_main_frame_is_heard() -> None:
    measured = Measured()
    heard = _binding(measured)
    main, child = SimpleNamespace(parent_frame=None), SimpleNamespace(parent_frame=object())
    heard({"frame": child}, "doc", "ttfb", 9.0)
    heard({"frame": main}, "doc", "ttfb", 0.2)
    heard({"frame": main}, "doc", "ttfb")  # a page calling the binding with too few arguments
    assert measured.documents == {"doc": {"ttfb": 0.2}}


def test_the_section_shows_each_vital_with_its_unit_and_rating() -> None:
    assert section([("lcp", 3.1), ("cls", 0.3)]).splitlines() == [
        "lcp      3.100 s  needs improvement",
        "cls      0.300    poor",
    ]
