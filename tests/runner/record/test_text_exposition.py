"""The text exposition written straight from the numbers: byte for byte what prometheus_client writes."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, Histogram, Info, Summary, generate_latest
from prometheus_client.exposition import choose_encoder

from runner.handoff.observations import Certificate, Observations
from runner.handoff.results import CycleReport, FixtureTiming, JourneyResult, StepResult
from runner.record.metrics import MonitorMetrics
from runner.record.text_exposition import render
from runner.settings.command_line import DEFAULT_BUCKETS

# Label values the text format must escape, and some it must not touch.
ODD = 'back\\slash "quoted"\nnew line é \u2603'
JOURNEYS = ("a.py::test_ok", f"b.py::test_odd[{ODD}]", "c.py::test_slo", "d.py::test_blocked")


def cycle(passed: bool, seconds: float) -> CycleReport:
    ok, odd, slo, blocked = JOURNEYS
    return CycleReport(
        collected=JOURNEYS,
        results=(
            JourneyResult(ok, passed, seconds, None if passed else "http", trace_id="ab" * 16),
            JourneyResult(
                odd,
                False,
                seconds * 3,
                "assertion",
                steps=(StepResult(f"log in {ODD}", seconds, True), StepResult("pay", 0.5, False)),
                observed=Observations(certificates=(Certificate("shop:443", 1.8e9, "TLSv1.3", ODD),)),
                trace_id="cd" * 16,  # its steps' buckets get exemplars too
            ),
            JourneyResult(slo, True, 12_345_678.9),  # a Go-style exponent in the sum
            JourneyResult(blocked, False, 0.0, "blocked", blocked_by=f"db[{ODD}]"),
        ),
        collection_errors=(),
        fixtures=(FixtureTiming(f"db[{ODD}]", "session", "setup", 0.25),),
        labels=((ok, (("team", "payments"), ("severity", ODD))), (odd, (("journey", "a label named journey"),))),
        periods=((slo, 300.0),),
        slos=((slo, (0.999, 2_419_200)),),
    )


# OpenMetrics as prometheus_client serves it to Prometheus, which asks for it first.
OPENMETRICS, _ = choose_encoder("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")


def steady(body: bytes) -> str:
    """The exposition less the runner's process series, which change from one render to the next (CPU time)."""
    return "".join(line for line in body.decode().splitlines(keepends=True) if "process_" not in line)


def busy_metrics(location: str | None = None) -> MonitorMetrics:
    metrics = MonitorMetrics(
        CollectorRegistry(), DEFAULT_BUCKETS, interval_seconds=30, timeout_seconds=10, location=location
    )
    metrics.record_cycle(cycle(True, 0.02), finished_at=1000.0, duration_seconds=2.0)
    metrics.record_cycle(cycle(False, 0.7), finished_at=1030.0, duration_seconds=2.0, muted=frozenset({JOURNEYS[0]}))
    metrics.journey_series.set_maintenance({JOURNEYS[0]})
    for _ in range(5000):  # counts past the table of written counts
        metrics.journey_series.observe(JourneyResult(JOURNEYS[2], True, 0.3))
    return metrics


@pytest.mark.parametrize("location", [None, f"eu-west {ODD}"])
def test_the_runners_metrics_are_written_byte_for_byte_as_prometheus_client_writes_them(location: str | None) -> None:
    metrics = busy_metrics(location)
    rendered, written = render(metrics.registry), generate_latest(metrics.registry)
    assert steady(rendered) == steady(written)
    assert rendered.count(b"process_") == written.count(b"process_") > 0


@pytest.mark.parametrize("location", [None, f"eu-west {ODD}"])
def test_openmetrics_with_exemplars_is_written_byte_for_byte_as_prometheus_client_writes_it(
    location: str | None,
) -> None:
    metrics = busy_metrics(location)
    rendered, written = render(metrics.registry, openmetrics=OPENMETRICS), OPENMETRICS(metrics.registry)
    assert steady(rendered) == steady(written)
    assert b' # {trace_id="' + b"ab" * 16 in rendered  # the buckets' exemplars
    assert rendered.endswith(b"\n# EOF\n") and rendered.count(b"# EOF") == 1


def test_every_metric_type_and_escaped_label_values_are_written_as_prometheus_client_writes_them() -> None:
    registry = CollectorRegistry()
    Counter("jobs", "Jobs \\ done\nin two lines.", ["kind"], registry=registry).labels(ODD).inc(3)
    Gauge("temperature_celsius", "A gauge.", registry=registry).set(-1.5e-7)
    Histogram("latency_seconds", "A histogram.", ["route"], buckets=(0.1, 1e9), registry=registry).labels(ODD).observe(
        2
    )
    Summary("size_bytes", "A summary.", registry=registry).observe(1_000_000_000)
    Info("build", "An info.", registry=registry).info({"version": ODD})
    Enum("state", "An enum.", states=["up", "down"], registry=registry).state("down")
    assert render(registry) == generate_latest(registry)
    assert render(registry, openmetrics=OPENMETRICS) == OPENMETRICS(registry)


def test_a_journeys_kept_text_is_written_again_when_its_numbers_change_and_only_then() -> None:
    metrics = busy_metrics()
    first = render(metrics.registry)
    ok, odd, *_ = JOURNEYS
    texts = {journey: state.text for journey, state in metrics.journey_series._journeys.items()}
    metrics.journey_series.observe(JourneyResult(ok, False, 4.0, "timeout"))
    metrics.journey_series.set_labels([odd], [(odd, (("team", "search"),))])
    second = render(metrics.registry)
    assert second != first
    assert steady(second) == steady(generate_latest(metrics.registry))
    assert steady(render(metrics.registry, openmetrics=OPENMETRICS)) == steady(OPENMETRICS(metrics.registry))
    kept = {journey: state.text for journey, state in metrics.journey_series._journeys.items()}
    assert [journey for journey in JOURNEYS if kept[journey] is not texts[journey]] == [ok, odd]
