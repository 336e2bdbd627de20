"""The status page's HTML: what a person sees, and nothing from a journey runs as markup."""

from __future__ import annotations

import datetime
from typing import Any, cast

from runner.record.document import Document
from runner.web.page import render

NOW = 1_800_000_000.0


def journey(name: str, state: str, message: str = "", history: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    ran = state != "not yet run"
    return {
        "journey": name,
        "state": state,
        "last_run_at": NOW - 5 if ran else None,
        "last_duration_seconds": 0.123 if ran else None,
        "failing_since": NOW - 600 if state == "failing" else None,
        "reason": "assertion" if state == "failing" else None,
        "message": message,
        "history": history or [],
    }


def results(*journeys: dict[str, Any]) -> Document:
    last = {"finished_at": NOW - 5, "duration_seconds": 1.5, "passed": 1, "failed": 1, "collection_errors": []}
    # Only what the page reads is given: the document's other keys have no say in these tests.
    return cast(Document, {"last_cycle": last, "journeys": list(journeys)})


def test_journey_names_and_messages_are_escaped() -> None:
    html = render(
        results(journey("a.py::test_x[<script>alert(1)</script>]", "failing", "assert '<img src=x onerror=alert(2)>'")),
        30,
        NOW,
    )
    assert "<script>" not in html and "<img" not in html
    assert "test_x[&lt;script&gt;alert(1)&lt;/script&gt;]" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html


def test_banner_says_how_many_fail() -> None:
    html = render(
        results(journey("a", "passing"), journey("b", "failing", "boom"), journey("c", "failing", "x")), 30, NOW
    )
    assert '<div class="banner bad" id="banner">2 of 3 journeys failing</div>' in html


def test_banner_says_all_passing() -> None:
    html = render(results(journey("a", "passing"), journey("b", "passing")), 30, NOW)
    assert '<div class="banner ok" id="banner">All 2 journeys passing</div>' in html


def test_failing_journey_shows_message_and_since_when() -> None:
    html = render(
        results(journey("a.py::test_bad", "failing", "AssertionError: answered 500\nassert 500 == 200")), 30, NOW
    )
    assert "assertion: AssertionError: answered 500\nassert 500 == 200" in html
    assert '<td class="when" title="2027-01-15 07:50:00 UTC">10 min ago</td>' in html


def test_not_yet_run_journeys_are_listed() -> None:
    html = render(cast(Document, {"last_cycle": None, "journeys": [journey("a", "not yet run")]}), 30, NOW)
    assert "not yet run" in html and "No cycle completed yet" in html


def test_chart_marks_failures() -> None:
    history = [
        {"at": NOW - i, "passed": i % 3 != 0, "duration_seconds": 0.01 * (i + 1), "reason": None} for i in range(9)
    ]
    html = render(results(journey("a", "failing", "x", history)), 30, NOW)
    assert html.count('<circle cx="') == 3
    assert "9 recent runs, 3 failed" in html


def test_page_refreshes_itself_and_loads_nothing_from_outside() -> None:
    html = render(results(journey("a", "passing")), 10, NOW)
    assert '<meta http-equiv="refresh" content="10">' in html
    assert "http://" not in html and "https://" not in html and "<script" not in html


def blocked(name: str, fixture: str = "signed_in") -> dict[str, Any]:
    entry = journey(name, "failing", f"fixture {fixture!r} (session) failed: ConnectionError: <refused>")
    return {**entry, "state": "blocked", "reason": "blocked", "blocked_by": fixture}


def test_a_degraded_journey_has_its_own_state_and_says_why() -> None:
    slow = {**journey("a.py::test_search", "degraded"), "degraded": "took 2.31 s, degraded after 1.50 s"}
    html = render(results(slow, journey("b", "passing")), 30, NOW)
    assert '<span class="state degraded">degraded</span>' in html
    assert "degraded: took 2.31 s, degraded after 1.50 s" in html
    assert '<div class="banner warn" id="banner">All 2 journeys passing, 1 degraded</div>' in html


def test_blocked_journeys_are_grouped_under_their_fixture_with_its_error_shown_once() -> None:
    html = render(results(*(blocked(f"a.py::test_{n}") for n in range(10)), journey("b", "passing")), 30, NOW)
    assert html.count("ConnectionError: &lt;refused&gt;") == 1
    assert 'id="blocked-signed_in"' in html and "failed and blocks 10 journeys" in html
    assert html.count('<span class="state blocked">blocked</span>') == 11  # the group's header and each journey
    group = html.index('id="blocked-signed_in"')
    assert all(html.index(f"a.py::test_{n}") > group for n in range(10))
    assert '<div class="banner bad" id="banner">10 of 11 journeys failing, 10 blocked by signed_in</div>' in html


def test_a_degraded_step_is_marked() -> None:
    steps = [
        {"name": "search", "seconds": 2.0, "passed": True, "degraded": True},
        {"name": "book", "seconds": 0.1, "passed": True, "degraded": False},
    ]
    html = render(results({**journey("a", "degraded"), "degraded": "slow", "steps": steps}), 30, NOW)
    assert '<li class="step degraded">search 2000 ms (degraded)</li>' in html
    assert '<li class="step passed">book 100 ms</li>' in html


def test_a_journey_in_a_maintenance_window_says_until_when_and_which_window() -> None:
    until = NOW + 3600
    muted = {
        **journey("a.py::test_pay", "failing", "boom"),
        "maintenance": {"name": "payments deploy", "mode": "mute", "until": until},
    }
    window = {
        "name": "payments deploy",
        "mode": "mute",
        "id": "",
        "journeys": {"labels": {"team": "payments"}, "match": ""},
        "start": NOW - 600,
        "end": until,
        "in_force": True,
    }
    html = render(cast(Document, {**results(muted), "maintenance": [window]}), 30, NOW)
    clock = datetime.datetime.fromtimestamp(until, datetime.UTC)
    assert f"maintenance until {clock:%a %-d %b %H:%M} UTC (payments deploy), muted" in html or (
        f"maintenance until {clock:%H:%M} UTC (payments deploy), muted" in html
    )
    assert 'id="maintenance"' in html and "<strong>payments deploy</strong> (mute, team=payments): now, " in html


def test_each_journey_shows_how_often_it_runs_and_when_next() -> None:
    entry = {**journey("a.py::test_checkout", "passing"), "interval_seconds": 600, "next_run_at": NOW + 185}
    html = render(results(entry), 30, NOW)
    assert "every 10 min, next in 3 min" in html


def test_planned_work_turns_no_banner_red() -> None:
    window = {"name": "search deploy", "mode": "mute", "until": NOW + 600}
    muted = {**journey("a.py::test_search", "failing", "boom"), "maintenance": window}
    html = render(results(muted, journey("b", "passing")), 30, NOW)
    assert '<div class="banner ok" id="banner">All 1 journeys passing (1 in maintenance)</div>' in html
    html = render(results(muted, journey("b", "failing", "x")), 30, NOW)
    assert '<div class="banner bad" id="banner">1 of 2 journeys failing (1 in maintenance)</div>' in html
