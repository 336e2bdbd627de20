"""The status page's view of what journeys saw: the slowest request's phases, Web Vitals, certificates."""

from __future__ import annotations

from typing import Any, cast

from runner.record.document import Document
from runner.web.page import render
from tests.runner.web.test_page import NOW, journey, results

SLOWEST = {
    "method": "POST",
    "url": "https://shop.example/pay/<b>",
    "status": 503,
    "seconds": 0.412,
    "phases": {"resolve": 0.0004, "connect": 0.002, "tls": 0.01, "processing": 0.39, "transfer": 0.0096},
}


def with_observations(**extra: Any) -> dict[str, Any]:
    return {**journey("a.py::test_pay", "failing", "assert 503 == 200"), **extra}


def test_the_slowest_request_shows_its_phases_escaped() -> None:
    html = render(results(with_observations(slowest_request=SLOWEST, requests_total=3)), 30, NOW)
    assert "slowest request (of 3 requests): POST https://shop.example/pay/&lt;b&gt; → 503 in 412 ms" in html
    assert "resolve 0.4 ms · connect 2.0 ms · tls 10 ms · processing 390 ms · transfer 9.6 ms" in html
    assert html.count("<rect") == 4  # resolve is narrower than half a pixel: not drawn
    assert "<b>" not in html


def test_a_request_without_an_answer_says_so() -> None:
    html = render(results(with_observations(slowest_request={**SLOWEST, "status": 0}, requests_total=1)), 30, NOW)
    assert "→ no answer in 412 ms" in html and "(of 1 requests)" not in html


def test_web_vitals_are_shown_rated() -> None:
    vitals = {"lcp": {"value": 3.1, "rating": "needs improvement"}, "cls": {"value": 0.3, "rating": "poor"}}
    html = render(results(with_observations(web_vitals=vitals)), 30, NOW)
    assert '<span class="vital needs-improvement" title="needs improvement">LCP 3100 ms</span>' in html
    assert '<span class="vital poor" title="poor">CLS 0.300</span>' in html


def test_certificates_are_listed_with_the_days_left_and_marked_by_urgency() -> None:
    document = cast(dict[str, Any], results(journey("a.py::test_a", "passing")))
    document["certificates"] = [
        {"host": "old.example:443", "not_after": NOW - 86400, "days_left": -1.0, "version": "TLSv1.2", "issuer": "R3"},
        {"host": "soon.example:443", "not_after": NOW, "days_left": 2.5, "version": "TLSv1.3", "issuer": "R11"},
        {"host": "ok.example:443", "not_after": NOW, "days_left": 60.0, "version": "TLSv1.3", "issuer": "<i>CA</i>"},
    ]
    html = render(cast(Document, document), 30, NOW)
    assert '<tr class="cert-expired"><td class="journey">old.example:443</td><td class="num">expired</td>' in html
    assert '<tr class="cert-critical"><td class="journey">soon.example:443</td><td class="num">2.5</td>' in html
    assert '<tr class="cert-ok">' in html and "&lt;i&gt;CA&lt;/i&gt;" in html


def test_a_journey_that_saw_nothing_shows_none_of_it() -> None:
    html = render(results(journey("a.py::test_a", "passing")), 30, NOW)
    assert 'class="request"' not in html and 'class="vitals"' not in html and 'id="certificates"' not in html
