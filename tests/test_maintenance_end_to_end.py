"""End to end with the real runner: maintenance windows from --maintenance and over /api/maintenance (kept in the
state file across a restart), as /metrics, /api/results and the status page show them; and journeys with an
@pytest.mark.interval of their own."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.processes import REPO_ROOT, RunningProcess, journeys, metric, scrape, start_runner, wait_for

pytestmark = pytest.mark.slow
USER, PASSWORD = "oncall", "maintain-me-4f2a"
WAIT_SECONDS = 90
Start = Callable[..., tuple[RunningProcess, str]]

CHECKOUT = "test_checkout.py::test_customer_can_check_out"
SEARCH = "test_search.py::test_guest_can_search_rooms"
PAY = "test_payments.py::test_customer_can_pay"
REFUND = "test_payments.py::TestRefunds::test_customer_gets_a_refund"
SUITE = {
    "test_checkout.py": """
        def test_customer_can_check_out():
            assert False, "checkout answers 503"
    """,
    "test_search.py": """
        import pytest

        @pytest.mark.labels(team="search")
        def test_guest_can_search_rooms():
            pass
    """,
    "test_payments.py": """
        import pytest

        pytestmark = pytest.mark.labels(team="payments")

        def test_customer_can_pay():
            pass

        class TestRefunds:
            def test_customer_gets_a_refund(self):
                pass
    """,
}


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    """Start real runners (``python -m runner --port 0``) on loopback; every one is stopped after the test."""
    started: list[RunningProcess] = []

    def run(*args: str) -> tuple[RunningProcess, str]:
        process, url = start_runner(tmp_path, *args, name=f"runner-{len(started)}")
        started.append(process)
        return process, url

    yield run
    for process in started:
        process.stop()


def window_file(tmp_path: Path, *windows: dict[str, Any]) -> Path:
    path = tmp_path / "maintenance.yml"
    path.write_text(yaml.safe_dump({"windows": list(windows)}))
    return path


def now_and_later(hours: float = 2) -> tuple[datetime, datetime]:
    """A window in force from an hour ago to ``hours`` from now, in whole seconds."""
    now = datetime.now(UTC).replace(microsecond=0)
    return now - timedelta(hours=1), now + timedelta(hours=hours)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def runs(samples: dict[Any, float], journey: str, result: str) -> float:
    return metric(samples, "synthetic_request_duration_count", journey=journey, result=result) or 0.0


def muted_runs(samples: dict[Any, float], journey: str, result: str) -> float:
    return metric(samples, "synthetic_journey_muted_runs_total", journey=journey, result=result) or 0.0


def scrape_until(url: str, ready: Callable[[dict[Any, float]], bool], what: str) -> dict[Any, float]:
    """The first scrape of /metrics for which ``ready`` holds, polled for up to WAIT_SECONDS."""

    def attempt() -> dict[Any, float] | None:
        samples = scrape(url)
        return samples if ready(samples) else None

    found: dict[Any, float] = wait_for(attempt, WAIT_SECONDS, what)
    return found


def results(url: str, auth: tuple[str, str] | None = None) -> dict[str, Any]:
    document: dict[str, Any] = requests.get(f"{url}/api/results", auth=auth, timeout=5).json()
    return document


def journey_entry(document: dict[str, Any], journey: str) -> dict[str, Any]:
    return next(entry for entry in document["journeys"] if entry["journey"] == journey)


def no_synthetic_env() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if not name.startswith("SYNTHETIC_")}


# --- a bad file -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("window", "field"),
    [
        (
            {
                "name": "payments deploy",
                "mode": "sleep",
                "start": "2026-12-05T22:00:00Z",
                "end": "2026-12-05T23:00:00Z",
            },
            "mode must be 'pause'",
        ),
        (
            {"name": "payments deploy", "mode": "pause", "start": "2026-12-05T22:00:00", "end": "2026-12-05T23:00:00Z"},
            "start must be an ISO 8601 time with a zone",
        ),
        (
            {"name": "payments deploy", "mode": "mute", "schedule": "0 25 * * *", "duration": "1h"},
            "schedule must be a 5-field cron expression",
        ),
    ],
)
@pytest.mark.parametrize("given", ["option", "env"])
def test_a_bad_maintenance_window_is_one_line_naming_it_and_the_field_and_exit_2(
    tmp_path: Path, window: dict[str, Any], field: str, given: str
) -> None:
    folder = journeys(tmp_path, {"test_ok.py": "def test_ok():\n    pass\n"})
    path = window_file(tmp_path, {"name": "nightly", "mode": "mute", "schedule": "0 3 * * *", "duration": "1h"}, window)
    argv = [sys.executable, "-m", "runner", "--journeys", str(folder), "--port", "0"]
    env = no_synthetic_env()
    if given == "option":
        argv += ["--maintenance", str(path)]
        source = f"--maintenance {path}"
    else:
        env["SYNTHETIC_MAINTENANCE"] = str(path)
        source = f"--maintenance (from env SYNTHETIC_MAINTENANCE) {path}"

    result = subprocess.run(argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60)

    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"synthetic-monitor: error: {source}: window 'payments deploy': {field}"), lines[0]
    assert "Traceback" not in result.stderr and result.stdout == ""


# --- a mute window from the file ---------------------------------------------------------------------------------


def test_a_muted_failing_journey_still_runs_and_is_recorded_and_every_view_says_it_is_in_maintenance(
    tmp_path: Path, start: Start
) -> None:
    folder = journeys(tmp_path, SUITE)
    begin, end = now_and_later()
    window = {"name": "checkout deploy", "mode": "mute", "start": iso(begin), "end": iso(end)}
    path = window_file(tmp_path, window | {"journeys": {"match": "test_checkout*"}})
    _, url = start("--journeys", str(folder), "--interval", "1", "--maintenance", str(path))

    first = wait_for(
        lambda: muted_runs(scrape(url), CHECKOUT, "failure"), WAIT_SECONDS, "the muted journey's first failure"
    )
    samples = scrape_until(url, lambda found: muted_runs(found, CHECKOUT, "failure") > first, "another failure")
    assert metric(samples, "synthetic_journey_maintenance", journey=CHECKOUT) == 1
    for other in (SEARCH, PAY, REFUND):
        assert metric(samples, "synthetic_journey_maintenance", journey=other) == 0, other
    # Counted apart, in no series an alert reads: its failures cannot page, in the window or after it.
    assert runs(samples, CHECKOUT, "failure") == 0 and runs(samples, CHECKOUT, "success") == 0

    document = results(url)
    checkout = journey_entry(document, CHECKOUT)
    assert checkout["maintenance"] == {"name": "checkout deploy", "mode": "mute", "until": end.timestamp()}
    assert checkout["state"] == "failing" and checkout["history"] and all(r["muted"] for r in checkout["history"])
    assert journey_entry(document, SEARCH)["maintenance"] is None
    listed = [entry for entry in document["maintenance"] if entry["name"] == "checkout deploy"]
    assert len(listed) == 1
    assert listed[0] | {"journeys": None} == {
        "name": "checkout deploy",
        "mode": "mute",
        "id": "",
        "journeys": None,
        "start": begin.timestamp(),
        "end": end.timestamp(),
        "in_force": True,
    }
    assert listed[0]["journeys"]["match"] == "test_checkout*"

    page = requests.get(url, timeout=5).text
    shown = re.findall(r"maintenance until ([^<(]*) \(checkout deploy\)", page)
    assert len(shown) == 1, page  # on the muted journey's row only
    assert shown[0].endswith(end.strftime("%H:%M UTC"))
    assert "Maintenance windows" in page


# --- a pause window by label -------------------------------------------------------------------------------------


def test_a_pause_window_by_label_keeps_those_journeys_from_running_while_the_others_run(
    tmp_path: Path, start: Start
) -> None:
    folder = journeys(tmp_path, SUITE)
    begin, end = now_and_later()
    window = {"name": "payments deploy", "mode": "pause", "start": iso(begin), "end": iso(end)}
    path = window_file(tmp_path, window | {"journeys": {"labels": {"team": "payments"}}})
    _, url = start("--journeys", str(folder), "--interval", "1", "--maintenance", str(path))

    samples = scrape_until(url, lambda found: runs(found, SEARCH, "success") >= 4, "four runs outside the window")

    for paused in (PAY, REFUND):
        assert runs(samples, paused, "success") == 0 and runs(samples, paused, "failure") == 0, paused
        assert metric(samples, "synthetic_journey_maintenance", journey=paused) == 1, paused
    assert runs(samples, CHECKOUT, "failure") >= 1  # not in the window: it runs, and fails as it should
    assert metric(samples, "synthetic_journey_maintenance", journey=SEARCH) == 0
    assert metric(samples, "synthetic_journey_maintenance", journey=CHECKOUT) == 0
    document = results(url)
    pay = journey_entry(document, PAY)
    assert pay["state"] == "not yet run" and pay["history"] == []
    assert pay["maintenance"] == {"name": "payments deploy", "mode": "pause", "until": end.timestamp()}
    assert "maintenance until" in requests.get(url, timeout=5).text


# --- ad-hoc windows ----------------------------------------------------------------------------------------------


def authorized_samples(url: str) -> dict[Any, float]:
    text = requests.get(f"{url}/metrics", auth=(USER, PASSWORD), timeout=5).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def in_maintenance(url: str, journey: str) -> float | None:
    return metric(authorized_samples(url), "synthetic_journey_maintenance", journey=journey)


def test_an_adhoc_window_takes_effect_at_once_survives_a_restart_and_ends_on_delete(
    tmp_path: Path, start: Start
) -> None:
    folder = journeys(tmp_path, SUITE)
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    config = tmp_path / "web.yml"
    config.write_text(f"basic_auth_users:\n  {USER}: {hashed}\n")
    state = tmp_path / "state.json"
    # A long interval: after the first cycle no other runs within the waits below, so what changes the gauge is
    # the window being made or ended, never a cycle.
    argv = ["--journeys", str(folder), "--interval", "600", "--web-config", str(config), "--state-file", str(state)]
    first_runner, url = start(*argv)
    wait_for(
        lambda: metric(authorized_samples(url), "synthetic_runs_total", status="completed"),
        WAIT_SECONDS,
        "the first cycle to end",
    )
    assert in_maintenance(url, PAY) == 0

    body = {"name": "payments hotfix", "mode": "mute", "duration": "2h", "journeys": {"labels": {"team": "payments"}}}
    refused = requests.post(f"{url}/api/maintenance", json=body, timeout=5)
    assert refused.status_code == 401
    made = requests.post(f"{url}/api/maintenance", json=body, auth=(USER, PASSWORD), timeout=5)
    assert made.status_code == 201, made.text
    window = made.json()
    assert made.headers["Location"] == f"/api/maintenance/{window['id']}"

    wait_for(lambda: in_maintenance(url, PAY) == 1, WAIT_SECONDS, "the gauge to say the window is in force")
    assert in_maintenance(url, REFUND) == 1 and in_maintenance(url, SEARCH) == 0
    assert [kept["id"] for kept in json.loads(state.read_text())["maintenance"]] == [window["id"]]
    assert first_runner.stop() == 0

    _, url = start(*argv)
    listed = requests.get(f"{url}/api/maintenance", auth=(USER, PASSWORD), timeout=5).json()["windows"]
    assert listed == [window]
    wait_for(lambda: in_maintenance(url, PAY) == 1, WAIT_SECONDS, "the restored window to be in force")
    pay = journey_entry(results(url, (USER, PASSWORD)), PAY)
    assert pay["maintenance"] is not None and pay["maintenance"]["name"] == "payments hotfix"

    ended = requests.delete(f"{url}/api/maintenance/{window['id']}", auth=(USER, PASSWORD), timeout=5)
    assert ended.status_code == 200, ended.text
    wait_for(lambda: in_maintenance(url, PAY) == 0, WAIT_SECONDS, "the gauge to say the window has ended")
    assert requests.get(f"{url}/api/maintenance", auth=(USER, PASSWORD), timeout=5).json()["windows"] == []
    assert json.loads(state.read_text())["maintenance"] == []
    again = requests.delete(f"{url}/api/maintenance/{window['id']}", auth=(USER, PASSWORD), timeout=5)
    assert again.status_code == 404


# --- a frequency per journey -------------------------------------------------------------------------------------

EVERY_CYCLE = "test_frequency.py::test_every_cycle"
EVERY_THIRD = "test_frequency.py::test_every_third_cycle"
NO_MULTIPLE = "test_frequency.py::test_every_one_and_a_half_cycles"


def test_a_journey_with_its_own_interval_runs_in_fewer_cycles_and_a_bad_one_fails_in_setup(
    tmp_path: Path, start: Start
) -> None:
    folder = journeys(
        tmp_path,
        {
            "test_frequency.py": """
                import pytest

                def test_every_cycle():
                    pass

                @pytest.mark.interval(3)
                def test_every_third_cycle():
                    pass

                @pytest.mark.interval(1.5)
                def test_every_one_and_a_half_cycles():
                    pass
            """
        },
    )
    _, url = start("--journeys", str(folder), "--interval", "1")

    scrape_until(url, lambda found: runs(found, EVERY_CYCLE, "success") >= 9, "nine cycles")
    samples = scrape_until(url, lambda found: runs(found, EVERY_THIRD, "success") >= 1, "a run of the 3 s journey")
    assert runs(samples, EVERY_THIRD, "success") < runs(samples, EVERY_CYCLE, "success")
    assert metric(samples, "synthetic_journey_interval_seconds", journey=EVERY_THIRD) == 3
    assert metric(samples, "synthetic_journey_interval_seconds", journey=EVERY_CYCLE) == 1

    def ahead() -> dict[str, Any] | None:
        document = results(url)
        entry = journey_entry(document, EVERY_THIRD)
        return (
            document if entry["next_run_at"] is not None and entry["next_run_at"] > document["generated_at"] else None
        )

    document = wait_for(ahead, WAIT_SECONDS, "a next_run_at after the document was made")
    assert journey_entry(document, EVERY_THIRD)["interval_seconds"] == 3
    assert journey_entry(document, EVERY_CYCLE)["interval_seconds"] == 1

    assert runs(samples, NO_MULTIPLE, "failure") >= 1 and runs(samples, NO_MULTIPLE, "success") == 0
    bad = journey_entry(document, NO_MULTIPLE)
    assert bad["state"] == "failing"
    assert (
        "@pytest.mark.interval(seconds) must be a whole multiple of the runner's --interval (1 s), got 1.5"
        in (bad["message"])
    )


def test_a_window_that_selects_no_journey_is_said_at_start_up(tmp_path: Path, start: Start) -> None:
    folder = journeys(tmp_path, SUITE)
    begin, end = now_and_later()
    window = {"name": "typo deploy", "mode": "mute", "start": iso(begin), "end": iso(end)}
    path = window_file(tmp_path, window | {"journeys": {"labels": {"team": "payment"}}})  # "payments" meant
    runner, _ = start("--journeys", str(folder), "--interval", "1", "--maintenance", str(path))
    line = runner.wait_for_output(r'\{[^\n]*"maintenance window selects no journey"[^\n]*\}')
    assert '"window": "typo deploy"' in line.group(0)
