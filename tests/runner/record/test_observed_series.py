"""Request phases and Web Vitals per journey: counters that add up each run, gauges of the last run."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from runner.handoff.observations import Observations, RequestTiming
from runner.handoff.results import JourneyResult
from runner.record.observed_series import ObservedSeries

PHASED = Observations(2, (0.001, 0.002, 0.01, 0.3, 0.02), (RequestTiming("GET", "https://a/", 200),))


def exported(series: ObservedSeries) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    registry.register(series)
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


def run(journey: str, observed: Observations, passed: bool = True) -> JourneyResult:
    return JourneyResult(journey, passed, 0.4, None if passed else "http", observed=observed)


def test_phases_are_summed_over_runs_with_one_series_per_phase_not_per_request() -> None:
    series = ObservedSeries()
    series.observe(run("a.py::test_pay", PHASED))
    series.observe(run("a.py::test_pay", PHASED, passed=False))
    found = exported(series)
    assert found[("synthetic_http_requests_total", (("journey", "a.py::test_pay"),))] == 4
    processing = found[("synthetic_http_phase_seconds_total", (("journey", "a.py::test_pay"), ("phase", "processing")))]
    assert processing == 0.6
    assert sum(1 for name, _ in found if name == "synthetic_http_phase_seconds_total") == 5


def test_a_journey_without_requests_or_pages_has_no_such_series() -> None:
    series = ObservedSeries()
    series.observe(run("a.py::test_quick", Observations()))
    assert exported(series) == {}


def test_web_vitals_are_the_last_runs_and_a_vital_it_no_longer_reports_goes() -> None:
    series = ObservedSeries()
    series.observe(run("b.py::test_book", Observations(vitals=(("lcp", 3.1), ("inp", 0.3)))))
    series.observe(run("b.py::test_book", Observations(vitals=(("lcp", 1.2), ("cls", 0.02)))))
    found = exported(series)
    assert found[("synthetic_browser_web_vital", (("journey", "b.py::test_book"), ("vital", "lcp")))] == 1.2
    assert found[("synthetic_browser_web_vital", (("journey", "b.py::test_book"), ("vital", "cls")))] == 0.02
    assert ("synthetic_browser_web_vital", (("journey", "b.py::test_book"), ("vital", "inp"))) not in found


def test_a_deleted_journeys_series_go() -> None:
    series = ObservedSeries()
    series.observe(run("a.py::test_pay", PHASED))
    series.keep_only({"a.py::test_other"})
    assert exported(series) == {}
