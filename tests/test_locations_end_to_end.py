"""Shards and locations on loopback: 3 shards in each of 2 locations (6 real runners), one real Prometheus.

Every journey is observed exactly once per cycle per location (none missing, none twice), and the
several-locations alert fires when both locations' targets fail, not when one does.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from scripts.stack import (
    RULES_PATH,
    RUNNER_JOB,
    RunningProcess,
    host_port,
    start_prometheus,
    start_runner,
    start_target,
)
from tests.processes import require_binary, set_faults, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.solo]
LOCATIONS = ("eu-west", "us-east")
SHARDS = 3
JOURNEYS = 30
CYCLES = 10
JOURNEY = """
def test_book_{n}(http, target_url):
    response = http.post(f"{{target_url}}/reservations", json={{"username": "journey-{n}"}})
    assert response.status_code == 200, f"POST /reservations answered {{response.status_code}}"
"""


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[dict[str, Any]]:
    require_binary("prometheus", "prometheus")
    journeys = tmp_path / "journeys"
    journeys.mkdir()
    for n in range(JOURNEYS):
        (journeys / f"test_book_{n}.py").write_text(JOURNEY.format(n=n))
    processes: list[RunningProcess] = []
    try:
        targets: dict[str, str] = {}
        runners: list[str] = []
        for location in LOCATIONS:
            process, targets[location] = start_target(tmp_path, "--faults", "none", name=f"target-{location}")
            processes.append(process)
            for shard in range(1, SHARDS + 1):
                args = ["--interval", "1", "--timeout", "2", "--journeys", str(journeys)]
                args += ["--location", location, "--shard", f"{shard}/{SHARDS}"]
                env = {"TARGET_URL": targets[location]}
                process, url = start_runner(tmp_path, *args, env=env, name=f"runner-{location}-{shard}")
                processes.append(process)
                runners.append(host_port(url))
        rules = tmp_path / "rules.yml"
        rules.write_text(re.sub(r"for: \S+", "for: 2s", RULES_PATH.read_text()))
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(rules)],
            "scrape_configs": [{"job_name": RUNNER_JOB, "static_configs": [{"targets": runners}]}],
        }
        prometheus, prometheus_url = start_prometheus(tmp_path, config)
        processes.append(prometheus)
        yield {"targets": targets, "prometheus": prometheus_url}
    finally:
        for process in reversed(processes):
            process.stop()


def query(prometheus: str, expr: str, at: float | None = None) -> list[dict[str, Any]]:
    params = {"query": expr} if at is None else {"query": expr, "time": str(at)}
    answer = requests.get(f"{prometheus}/api/v1/query", params=params, timeout=5).json()
    assert answer["status"] == "success", answer
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def firing(prometheus: str, alertname: str) -> list[dict[str, str]]:
    alerts = requests.get(f"{prometheus}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
    return [a["labels"] for a in alerts if a["labels"]["alertname"] == alertname and a["state"] == "firing"]


def observations(prometheus: str) -> tuple[dict[tuple[str, str], list[tuple[str, float]]], dict[str, float]]:
    """From one evaluation: each (location, journey)'s runners and run counts; each runner's completed cycles."""
    at = time.time()
    counts: dict[tuple[str, str], list[tuple[str, float]]] = {}
    expr = "sum by (instance, location, journey) (synthetic_request_duration_count)"
    for series in query(prometheus, expr, at):
        labels = series["metric"]
        counts.setdefault((labels["location"], labels["journey"]), []).append(
            (labels["instance"], float(series["value"][1]))
        )
    cycles = {
        series["metric"]["instance"]: float(series["value"][1])
        for series in query(prometheus, 'synthetic_runs_total{status="completed"}', at)
    }
    return counts, cycles


# Six runners, Prometheus and the targets load 2 cores: scripts/test runs this alone (marker solo); beside
# another CPU-bound test a cycle overruns its 1 s interval, skips a tick and fails the once-per-interval check.
def test_six_runners_run_every_journey_once_per_cycle_per_location_and_page_only_when_both_fail(
    fleet: dict[str, Any],
) -> None:
    prometheus = fleet["prometheus"]
    wait_for(
        lambda: len(query(prometheus, 'synthetic_runs_total{status="completed"} >= 12')) == len(LOCATIONS) * SHARDS,
        120,
        f"every runner to complete {CYCLES + 2} cycles",
    )
    counts, cycles = observations(prometheus)
    expected = {(location, f"test_book_{n}.py::test_book_{n}") for location in LOCATIONS for n in range(JOURNEYS)}
    assert set(counts) == expected, "journeys missing or unexpected"
    for (location, journey), owners in counts.items():
        assert len(owners) == 1, f"{journey} runs on {len(owners)} runners in {location}: {owners}"
        instance, runs = owners[0]
        # Both numbers come from the same scrape of one runner: each cycle observed every journey it owns once.
        assert runs == cycles[instance] >= CYCLES, f"{journey} in {location}: {runs} runs, {cycles[instance]} cycles"
    per_runner = [sum(1 for owners in counts.values() if owners[0][0] == instance) for instance in cycles]
    assert all(5 <= share <= 15 for share in per_runner), f"journeys per runner: {per_runner}"
    skipped = query(prometheus, 'sum(synthetic_runs_total{status="skipped"})')
    # No tick was skipped, so every interval had its cycle: each journey once per interval per location.
    assert float(skipped[0]["value"][1]) == 0, f"skipped ticks: {skipped}, cycles per runner: {cycles}"

    # One location's target breaks: its runners warn, nothing pages.
    set_faults(fleet["targets"]["eu-west"], {"error_rate": 1, "status_codes": [503]})
    wait_for(lambda: firing(prometheus, "SyntheticFailureRateHigh"), 60, "the per-location warnings from eu-west")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # ten more evaluations with one location failing
        assert firing(prometheus, "SyntheticJourneyFailingFromSeveralLocations") == []
        time.sleep(1)
    warnings = firing(prometheus, "SyntheticFailureRateHigh")
    assert {(a["location"], a["severity"]) for a in warnings} == {("eu-west", "warning")}

    # Both locations fail: every journey pages once, naming it.
    set_faults(fleet["targets"]["us-east"], {"error_rate": 1, "status_codes": [503]})
    wait_for(
        lambda: len(firing(prometheus, "SyntheticJourneyFailingFromSeveralLocations")) == JOURNEYS,
        60,
        "the several-locations alert for every journey",
    )
    pages = firing(prometheus, "SyntheticJourneyFailingFromSeveralLocations")
    assert {a["journey"] for a in pages} == {journey for _, journey in expected}
    assert {a["severity"] for a in pages} == {"critical"} and all("location" not in a for a in pages)
