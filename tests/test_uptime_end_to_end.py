"""End to end with the real runner: uptime per journey and for the suite in /api/results and on the page, the
hourly totals kept across a restart with --state-file, muted runs left out, the same figure as Prometheus
computes from the runner's series, and an @pytest.mark.slo journey's error budget.

Every journey waits at its start while the test holds the file ``hold`` in the folder $UPTIME_CONTROL names
(a conftest fixture): once one says so (the file ``held``), no cycle can complete, so /metrics and
/api/results stand still and the test reads them at one moment, between cycles.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from scripts.stack import RUNNER_JOB, host_port, prometheus_config, start_prometheus
from tests.processes import RunningProcess, journeys, metric, require_binary, scrape, start_runner, wait_for

pytestmark = pytest.mark.slow

WAIT_SECONDS = 120.0  # several one-second cycles of a few journeys each, on a busy two-core machine
JOURNEY_TIMEOUT = "600"  # a held journey waits at its start far longer than a run takes; it must not time out
WINDOWS = ("24h", "7d", "30d", "90d")
SECONDS_A_DAY = 86400
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
Start = Callable[..., tuple[RunningProcess, str]]

RENEW = "test_loans.py::test_member_can_renew_a_loan"
SEARCH = "test_catalogue.py::test_visitor_can_search_the_catalogue"
ACCOUNT = "test_account.py::test_member_can_open_the_account_page"
RETURN = "test_returns.py::test_member_can_return_a_book"

HOLD = """
    import os
    import pathlib
    import time

    import pytest


    @pytest.fixture(autouse=True)
    def wait_while_the_test_reads():
        control = pathlib.Path(os.environ["UPTIME_CONTROL"])
        while (control / "hold").exists():
            (control / "held").touch()
            time.sleep(0.05)
"""
LOANS = """
    import os
    import pathlib

    import pytest


    {marker}
    def test_member_can_renew_a_loan():
        counter = pathlib.Path(os.environ["UPTIME_CONTROL"]) / "renewals"
        renewal = int(counter.read_text()) + 1 if counter.exists() else 1
        counter.write_text(str(renewal))
        assert renewal % 2 == 1, f"renewal {{renewal}}: the loans service answered 503"
"""
CATALOGUE = """
    def test_visitor_can_search_the_catalogue():
        pass
"""
ACCOUNT_PAGE = """
    import pytest


    @pytest.mark.degraded_after(0.000001)
    def test_member_can_open_the_account_page():
        pass
"""
RETURNS = """
    def test_member_can_return_a_book():
        assert False, "the returns desk answers 503"
"""


def suite(*, slo: str = "") -> dict[str, str]:
    """The hold, a journey that fails every other run (the first passes), one that passes, one always degraded."""
    return {
        "conftest.py": HOLD,
        "test_loans.py": LOANS.format(marker=slo),
        "test_catalogue.py": CATALOGUE,
        "test_account.py": ACCOUNT_PAGE,
    }


@dataclass(frozen=True, slots=True)
class Control:
    """The folder the journeys share with the test: the renewal counter, and the hold."""

    folder: Path

    @property
    def env(self) -> dict[str, str]:
        return {"UPTIME_CONTROL": str(self.folder)}

    def hold(self) -> None:
        """Make every journey wait at its start, and return once one does: the cycle it is in cannot complete,
        and the one before it has been recorded and published."""
        (self.folder / "held").unlink(missing_ok=True)
        (self.folder / "hold").touch()
        wait_for((self.folder / "held").exists, WAIT_SECONDS, "a journey to wait on the hold")

    def release(self) -> None:
        (self.folder / "hold").unlink()


@dataclass(frozen=True, slots=True)
class Reading:
    """/metrics and /api/results taken between two cycles."""

    samples: Samples
    document: dict[str, Any]

    def journey(self, journey: str) -> dict[str, Any]:
        found: dict[str, Any] = next(entry for entry in self.document["journeys"] if entry["journey"] == journey)
        return found

    def runs(self, journey: str, result: str) -> int:
        return int(metric(self.samples, "synthetic_request_duration_count", journey=journey, result=result) or 0)

    def passed_and_failed(self, *journeys: str) -> tuple[int, int]:
        return sum(self.runs(j, "success") for j in journeys), sum(self.runs(j, "failure") for j in journeys)

    def days_with_runs(self) -> list[dict[str, Any]]:
        return [day for day in self.document["uptime_days"] if day["runs"] or day["muted"]]


@pytest.fixture
def control(tmp_path: Path) -> Control:
    folder = tmp_path / "control"
    folder.mkdir()
    return Control(folder)


@pytest.fixture
def start(tmp_path: Path, control: Control) -> Iterator[Start]:
    """Start real runners (``python -m runner --port 0``) on loopback; every one is stopped after the test."""
    started: list[RunningProcess] = []

    def run(*args: str) -> tuple[RunningProcess, str]:
        process, url = start_runner(tmp_path, *args, env=control.env, name=f"runner-{len(started)}")
        started.append(process)
        return process, url

    yield run
    for process in started:
        process.stop()


def runner_args(folder: Path, *more: str) -> tuple[str, ...]:
    return ("--journeys", str(folder), "--interval", "1", "--timeout", JOURNEY_TIMEOUT, *more)


def completed(samples: Samples) -> float | None:
    return metric(samples, "synthetic_runs_total", status="completed")


def settled(url: str) -> Reading:
    """/metrics, /api/results and /metrics again, until both scrapes name the same completed cycles: the document
    was then taken between two cycles. (Under the hold the first try agrees; the check says so.)"""

    def attempt() -> Reading | None:
        before = scrape(url)
        document: dict[str, Any] = requests.get(f"{url}/api/results", timeout=5).json()
        after = scrape(url)
        return Reading(after, document) if completed(before) == completed(after) else None

    reading: Reading = wait_for(attempt, WAIT_SECONDS, "two scrapes of /metrics around /api/results that agree")
    return reading


def wait_for_runs(url: str, journey: str, count: int) -> None:
    def enough() -> bool:
        samples = scrape(url)
        runs = sum(
            metric(samples, "synthetic_request_duration_count", journey=journey, result=result) or 0
            for result in ("success", "failure")
        )
        return runs >= count

    wait_for(enough, WAIT_SECONDS, f"{count} runs of {journey}")


def every_window(share: float | None) -> dict[str, float | None]:
    return dict.fromkeys(WINDOWS, share)


def midnight(at: float) -> float:
    return float(int(at // SECONDS_A_DAY) * SECONDS_A_DAY)


def runs_since(reading: Reading, started_at: float, key: str = "runs") -> int:
    """The suite's ``key`` over the days since the test started: today's alone unless it crossed midnight UTC."""
    return sum(day[key] for day in reading.document["uptime_days"] if day["day"] >= midnight(started_at))


# --- uptime per journey, for the suite, and on the page ----------------------------------------------------------


def test_uptime_is_the_share_of_counted_runs_that_passed_and_the_page_shows_the_suites_figures_and_90_days(
    tmp_path: Path, control: Control, start: Start
) -> None:
    folder = journeys(tmp_path, suite())
    started_at = time.time()
    _, url = start(*runner_args(folder, "--state-file", str(tmp_path / "state.json")))
    wait_for_runs(url, RENEW, 6)
    control.hold()
    reading = settled(url)

    passed, failed = reading.passed_and_failed(RENEW)
    assert passed > 0 and failed > 0, reading.samples
    renew = reading.journey(RENEW)["uptime"]
    assert renew == every_window(passed / (passed + failed))
    assert 0 < renew["24h"] < 1
    assert reading.journey(SEARCH)["uptime"] == every_window(1.0)
    degraded = metric(reading.samples, "synthetic_journey_degraded_total", journey=ACCOUNT)
    assert degraded and degraded == reading.runs(ACCOUNT, "success"), "the account page is degraded every run"
    assert reading.journey(ACCOUNT)["uptime"] == every_window(1.0)  # a degraded run counts as passed

    suite_passed, suite_failed = reading.passed_and_failed(RENEW, SEARCH, ACCOUNT)
    assert reading.document["uptime"] == every_window(suite_passed / (suite_passed + suite_failed))
    days = reading.document["uptime_days"]
    assert len(days) == 90
    today = days[-1]
    assert today["day"] == midnight(reading.document["generated_at"])
    assert [day["day"] for day in days] == [today["day"] - SECONDS_A_DAY * back for back in range(89, -1, -1)]
    assert runs_since(reading, started_at) == suite_passed + suite_failed
    assert runs_since(reading, started_at, "failures") == suite_failed
    assert runs_since(reading, started_at, "degraded") == degraded
    assert runs_since(reading, started_at, "muted") == 0

    page = requests.get(url, timeout=5).text
    line = re.search(r'<div class="uptime" id="uptime"><strong>Uptime</strong> (.*?)<div>', page)
    assert line, page
    shown = dict(re.findall(r"(\w+) ([\d.]+)%", line.group(1)))
    assert list(shown) == list(WINDOWS), line.group(1)
    for window, percent in shown.items():  # two decimals
        assert float(percent) == pytest.approx(100 * reading.document["uptime"][window], abs=0.005 + 1e-9), window
    strip = re.search(r'<svg class="strip"[^>]*>(.*?)</svg>', page, re.DOTALL)
    assert strip, page
    rects = re.findall(r"<rect [^>]*>(.*?)</rect>", strip.group(1))
    assert len(rects) == 90
    date = datetime.fromtimestamp(today["day"], UTC).strftime("%Y-%m-%d")
    assert re.fullmatch(rf"<title>{date}: [\d.]+% of {today['runs']} runs</title>", rects[-1]), rects[-1]


# --- the hourly totals survive a restart -------------------------------------------------------------------------


def test_uptime_survives_a_restart_with_the_same_state_file_and_keeps_counting(
    tmp_path: Path, control: Control, start: Start
) -> None:
    folder = journeys(tmp_path, suite())
    args = runner_args(folder, "--state-file", str(tmp_path / "state.json"))
    first, url = start(*args)
    wait_for_runs(url, RENEW, 4)
    control.hold()
    before = settled(url)
    assert first.stop() == 0, first.output()

    # Still held: the new runner's first cycle waits at its first journey, so all it shows is the state file's.
    _, url = start(*args)
    restored = settled(url)
    assert completed(restored.samples) == 0, "a cycle of the new runner completed under the hold"
    for journey in (RENEW, SEARCH, ACCOUNT):
        assert restored.journey(journey)["uptime"] == before.journey(journey)["uptime"], journey
    assert restored.document["uptime"] == before.document["uptime"]
    assert restored.days_with_runs() == before.days_with_runs()

    control.release()
    wait_for_runs(url, RENEW, 3)  # the new runner's series start at zero; its uptime goes on from the old totals
    control.hold()
    later = settled(url)
    passed = before.runs(RENEW, "success") + later.runs(RENEW, "success")
    failed = before.runs(RENEW, "failure") + later.runs(RENEW, "failure")
    assert later.journey(RENEW)["uptime"] == every_window(passed / (passed + failed))
    old_passed, old_failed = before.passed_and_failed(RENEW, SEARCH, ACCOUNT)
    new_passed, new_failed = later.passed_and_failed(RENEW, SEARCH, ACCOUNT)
    suite_passed, suite_runs = old_passed + new_passed, old_passed + old_failed + new_passed + new_failed
    assert later.document["uptime"] == every_window(suite_passed / suite_runs)
    assert sum(day["runs"] for day in later.document["uptime_days"]) == suite_runs


# --- muted runs are left out -------------------------------------------------------------------------------------


def test_a_failing_journey_in_a_mute_window_has_no_uptime_and_its_runs_count_as_muted_for_the_day(
    tmp_path: Path, control: Control, start: Start
) -> None:
    folder = journeys(tmp_path, {"conftest.py": HOLD, "test_returns.py": RETURNS, "test_catalogue.py": CATALOGUE})
    now = datetime.now(UTC).replace(microsecond=0)
    window = {
        "name": "returns desk move",
        "mode": "mute",
        "start": (now - timedelta(hours=1)).isoformat(),
        "end": (now + timedelta(hours=2)).isoformat(),
        "journeys": {"match": "test_returns*"},
    }
    maintenance = tmp_path / "maintenance.yml"
    maintenance.write_text(yaml.safe_dump({"windows": [window]}))
    started_at = time.time()
    _, url = start(*runner_args(folder, "--maintenance", str(maintenance)))

    def muted_failures(samples: Samples) -> float:
        return metric(samples, "synthetic_journey_muted_runs_total", journey=RETURN, result="failure") or 0

    wait_for(lambda: muted_failures(scrape(url)) >= 3, WAIT_SECONDS, "three muted failures")
    control.hold()
    reading = settled(url)

    returns = reading.journey(RETURN)
    assert returns["history"] and all(run["muted"] and not run["passed"] for run in returns["history"])
    assert returns["uptime"] == every_window(None)
    assert reading.passed_and_failed(RETURN) == (0, 0)
    assert reading.document["uptime"] == every_window(1.0)  # the catalogue's runs alone
    passed, _ = reading.passed_and_failed(SEARCH)
    assert runs_since(reading, started_at, "muted") == muted_failures(reading.samples) > 0
    assert runs_since(reading, started_at) == passed
    assert runs_since(reading, started_at, "failures") == 0


# --- the same figure as Prometheus -------------------------------------------------------------------------------


def prometheus_value(prometheus_url: str, query: str) -> float | None:
    """The single sample an instant query gives now, or None without one."""
    response = requests.get(f"{prometheus_url}/api/v1/query", params={"query": query}, timeout=5)
    response.raise_for_status()
    found = response.json()["data"]["result"]
    assert len(found) <= 1, found
    return float(found[0]["value"][1]) if found else None


def test_the_runners_24h_uptime_equals_the_share_prometheus_computes_from_its_series(
    tmp_path: Path, control: Control, start: Start
) -> None:
    """Prometheus scrapes the runner every second; after some 20 runs, held between cycles, the runner's 24-hour
    uptime of the flipping journey equals success / (success + failure) of its synthetic_request_duration_count.

    The same window: the runner started minutes ago, so its 24 hours hold every run it made, and its counters
    have counted every run since it started, never reset (one process); muted runs are in neither, and there are
    none. Raw counters, not increase(): increase() extrapolates to the edges of its range and misses the first
    increment after a series appears. Prometheus is read once it holds the runner's current completed-cycles
    count: the hold keeps the runner from completing another, so that scrape is of the runner as it is read.
    """
    require_binary("prometheus", "prometheus")
    folder = journeys(tmp_path, suite())
    _, url = start(*runner_args(folder))
    config = prometheus_config({RUNNER_JOB: host_port(url)}, None, [], "1s")
    prometheus, prometheus_url = start_prometheus(tmp_path, config)
    try:
        wait_for_runs(url, RENEW, 20)
        control.hold()
        reading = settled(url)
        cycles = completed(reading.samples)
        job = f'job="{RUNNER_JOB}"'
        wait_for(
            lambda: prometheus_value(prometheus_url, f'synthetic_runs_total{{{job},status="completed"}}') == cycles,
            WAIT_SECONDS,
            f"Prometheus to scrape the runner after its cycle {cycles}",
        )
        journey = f'{job},journey="{RENEW}"'
        share = prometheus_value(
            prometheus_url,
            f'synthetic_request_duration_count{{{journey},result="success"}}'
            f" / ignoring(result) sum without(result) (synthetic_request_duration_count{{{journey}}})",
        )
    finally:
        prometheus.stop()
    passed, failed = reading.passed_and_failed(RENEW)
    assert passed + failed >= 20
    assert share == pytest.approx(passed / (passed + failed), abs=1e-9)
    assert reading.journey(RENEW)["uptime"]["24h"] == pytest.approx(share, abs=1e-9)


# --- an SLO from a marker ----------------------------------------------------------------------------------------


def test_a_journey_failing_half_its_runs_spends_a_90_percent_slo_five_times_over_in_slow_burn(
    tmp_path: Path, control: Control, start: Start
) -> None:
    """Half the runs failing against a 10% budget is a burn rate of 5 (4 after an odd number of runs, the first
    passing): under 14.4 over an hour and 6 over 6 hours (no fast burn), at least 3 over a day: slow burn."""
    folder = journeys(tmp_path, suite(slo="@pytest.mark.slo(objective=0.9)"))
    started_at = time.time()
    _, url = start(*runner_args(folder))
    wait_for_runs(url, RENEW, 4)
    control.hold()
    reading = settled(url)
    read_at = time.time()

    passed, failed = reading.passed_and_failed(RENEW)
    spent = failed / (passed + failed) / (1 - 0.9)
    assert 4 <= spent <= 5 + 1e-9
    slo = reading.journey(RENEW)["slo"]
    assert slo["objective"] == 0.9
    assert slo["window_seconds"] == 30 * SECONDS_A_DAY == 2592000
    assert slo["budget_left"] == pytest.approx(1 - spent, abs=1e-9)
    assert slo["budget_left"] < 0
    if int(started_at // 3600) == int(read_at // 3600):  # every run in this hour: the last hour's are all of them
        assert slo["burn_rate_1h"] == pytest.approx(spent, abs=1e-9)
    else:  # across the top of an hour, the runs since: none failed or up to all of them
        assert 0 <= slo["burn_rate_1h"] <= 10 + 1e-9
    assert slo["state"] == "slow burn"
    assert reading.journey(SEARCH)["slo"] is None

    samples = reading.samples
    assert metric(samples, "synthetic_journey_slo_objective", journey=RENEW) == 0.9
    assert metric(samples, "synthetic_journey_slo_window_seconds", journey=RENEW) == 2592000
    assert metric(samples, "synthetic_journey_slo_runs_total", journey=RENEW, result="success") == passed
    assert metric(samples, "synthetic_journey_slo_runs_total", journey=RENEW, result="failure") == failed
    assert metric(samples, "synthetic_journey_slo_objective", journey=SEARCH) is None

    page = requests.get(url, timeout=5).text
    burn = f"{slo['burn_rate_1h']:.1f}"
    assert f"SLO 90% over 30 d: budget left 0% (spent), burn {burn}x (slow burn)" in page, page
