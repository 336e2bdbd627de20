"""Verdicts under plain pytest, with and without pytest-xdist: a failure's reason, degraded runs (markers, the
option, steps, ``degrade``) and journeys blocked by a failed fixture wider than them, on the reports and in the
terminal summary."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.processes import free_port, journeys
from tests.runner.journey.test_verdict import StatusServer

REPORTS_ENV = "SYNTHETIC_TEST_REPORTS"
# A conftest.py part that keeps what each report carries, as the process running the session's summary sees it
# (under pytest-xdist the controller, after the report crossed from its worker).
RECORDER = """
import json
import os


def pytest_runtest_logreport(report):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    record = {"nodeid": report.nodeid, "when": report.when, "outcome": report.outcome}
    record.update((name, value) for name, value in vars(report).items() if name.startswith("synthetic_"))
    record["sections"] = dict(report.sections)
    with open(os.environ["SYNTHETIC_TEST_REPORTS"], "a", encoding="utf-8") as out:
        out.write(json.dumps(record) + "\\n")
"""
FIXTURES = """
import os
import socket

import pytest


@pytest.fixture(scope="session")
def signed_in():
    # Nothing listens there: a real refused connection, on loopback.
    with socket.create_connection(("127.0.0.1", int(os.environ["CLOSED_PORT"])), timeout=5):
        pass


@pytest.fixture(scope="module")
def cart(signed_in):
    return []


@pytest.fixture
def broken_teardown():
    yield
    raise RuntimeError("could not cancel the reservation")
"""
DEGRADED = """
    import time

    import pytest

    pytestmark = pytest.mark.degraded_after(5)
    PAUSE = 0.2


    @pytest.mark.degraded_after(0.05)
    def test_slow_search():
        time.sleep(PAUSE)


    def test_module_marker_is_lenient():
        time.sleep(PAUSE)


    class TestCheckout:
        pytestmark = pytest.mark.degraded_after(0.05)

        def test_class_marker_is_closer_than_the_module(self):
            time.sleep(PAUSE)

        @pytest.mark.degraded_after(5)
        def test_function_marker_is_closest(self):
            time.sleep(PAUSE)


    @pytest.mark.degraded_after(seconds=0.05)
    def test_seconds_as_keyword():
        time.sleep(PAUSE)


    def test_slow_step(step):
        with step("search", degraded_after=0.05):
            time.sleep(PAUSE)
        with step("pay", degraded_after=5):
            pass


    def test_fallback(degrade):
        degrade("served from the\\nfallback")


    @pytest.mark.degraded_after(0.05)
    def test_slow_and_failing():
        time.sleep(PAUSE)
        assert PAUSE < 0, "card declined"


    @pytest.mark.degraded_after(0.05)
    def test_fallback_then_refused(degrade):
        degrade("served from the fallback")
        time.sleep(PAUSE)
        raise ConnectionRefusedError(111, "Connection refused")


    @pytest.mark.degraded_after(0.05)
    def test_slow_but_teardown_fails(broken_teardown):
        time.sleep(PAUSE)


    def test_fails_twice(broken_teardown):
        assert PAUSE < 0, "no seats left"


    @pytest.mark.degraded_after(0.05)
    @pytest.mark.skip(reason="closed on Sundays")
    def test_skipped():
        time.sleep(PAUSE)
"""
BLOCKED = """
    import pytest


    def test_pay(cart):
        pass


    def test_book(signed_in):
        pass


    def test_cancel(signed_in):
        pass


    def test_browse():
        pass


    @pytest.fixture(scope="module")
    def inventory():
        raise RuntimeError("inventory unavailable")


    def test_stock(inventory):
        pass


    def test_restock(inventory):
        pass


    class TestBasket:
        @pytest.fixture(scope="class")
        @classmethod
        def basket(cls):
            raise RuntimeError("basket service down")

        def test_add(self, basket):
            pass

        def test_remove(self, basket):
            pass


    @pytest.fixture
    def coupon():
        raise RuntimeError("coupon service down")


    def test_coupon(coupon):
        pass


    def test_coupon_again(coupon):
        pass
"""
REASONS = """
    import os
    import time

    import pytest


    def test_network(http):
        http.get(f"http://127.0.0.1:{os.environ['CLOSED_PORT']}/book")


    def test_http(http):
        http.get(f"{os.environ['STATUS_URL']}/status/503").raise_for_status()


    def test_assertion():
        seats = 0
        assert seats > 0, "no seats left"


    def test_error():
        return {}["missing"]


    @pytest.mark.timeout(0.5)
    def test_timeout():
        time.sleep(30)
"""
TOOK = r"took \d+\.\d\d s, degraded after 0\.05 s"
ERRNO_REFUSED = "ConnectionRefusedError: [Errno 111] Connection refused"


@dataclass(frozen=True)
class Run:
    """A pytest run in its own process: exit status, terminal output and what each report carried."""

    status: int
    output: str
    reports: tuple[dict[str, Any], ...]

    def values(self, key: str) -> dict[str, Any]:
        """{node id: value} of the reports that carry ``key`` (``synthetic_degraded``, ...)."""
        return {report["nodeid"]: report[key] for report in self.reports if key in report}

    def verdict_lines(self) -> list[str]:
        """The lines of the summary's "synthetic-monitor verdicts" section."""
        lines = self.output.splitlines()
        start = next((n for n, line in enumerate(lines) if "synthetic-monitor verdicts" in line), len(lines))
        section = []
        for line in lines[start + 1 :]:
            if line.startswith("====="):
                break
            section.append(line)
        return section

    def report(self, nodeid: str, when: str) -> dict[str, Any]:
        return next(r for r in self.reports if r["nodeid"] == nodeid and r["when"] == when)


def suite_conftest(fixtures: str = FIXTURES) -> str:
    return textwrap.dedent(RECORDER) + textwrap.dedent(fixtures)


def run_suite(folder: Path, *args: str, env: dict[str, str] | None = None) -> Run:
    """``python -m pytest folder args`` with the installed plugins, in an environment that exports no spans and
    uses no proxy, on a wide terminal; the suite's conftest.py must start with ``RECORDER``."""
    reports = folder.parent / f"reports-{len(list(folder.parent.glob('reports-*')))}.jsonl"
    clean = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PYTEST_", "OTEL_")) and "proxy" not in name.lower()
    }
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(folder), "-p", "no:cacheprovider", "-p", "no:randomly", *args],
        cwd=folder,
        env={**clean, REPORTS_ENV: str(reports), "COLUMNS": "400", **(env or {})},  # summary lines unshortened
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = reports.read_text().splitlines() if reports.exists() else []
    return Run(done.returncode, done.stdout + done.stderr, tuple(json.loads(line) for line in lines))


@pytest.fixture(scope="module")
def status_server() -> Iterator[StatusServer]:
    server = StatusServer()
    yield server
    server.close()


def run_whole_suite(tmp_path: Path, status_server: StatusServer, *args: str) -> Run:
    folder = journeys(
        tmp_path,
        {
            "conftest.py": suite_conftest(),
            "test_degraded.py": DEGRADED,
            "test_blocked.py": BLOCKED,
            "test_reasons.py": REASONS,
        },
    )
    return run_suite(folder, *args, env={"CLOSED_PORT": str(free_port()), "STATUS_URL": status_server.url})


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory, status_server: StatusServer) -> Run:
    """The whole suite, run once under plain pytest."""
    run = run_whole_suite(tmp_path_factory.mktemp("plain"), status_server, "-rA")
    assert run.status == 1, run.output
    return run


@pytest.fixture(scope="module")
def distributed(tmp_path_factory: pytest.TempPathFactory, status_server: StatusServer) -> Run:
    """The whole suite, run once under pytest-xdist with two workers."""
    run = run_whole_suite(tmp_path_factory.mktemp("xdist"), status_server, "-n", "2")
    assert run.status == 1, run.output
    return run


# Degraded


def test_a_journey_over_its_degraded_after_passes_and_is_degraded_on_its_report_and_in_the_summary(plain: Run) -> None:
    nodeid = "test_degraded.py::test_slow_search"
    assert plain.report(nodeid, "call")["outcome"] == "passed"
    teardown = plain.report(nodeid, "teardown")
    assert re.fullmatch(TOOK, teardown["synthetic_degraded"]), teardown
    assert teardown["sections"]["synthetic-monitor"] == f"degraded: {teardown['synthetic_degraded']}"
    assert any(re.fullmatch(f"DEGRADED {re.escape(nodeid)} - {TOOK}", line) for line in plain.verdict_lines())
    assert f"PASSED {nodeid}" in plain.output


def test_the_closest_degraded_after_marker_wins(plain: Run) -> None:
    degraded = plain.values("synthetic_degraded")
    assert re.fullmatch(TOOK, degraded["test_degraded.py::TestCheckout::test_class_marker_is_closer_than_the_module"])
    assert "test_degraded.py::TestCheckout::test_function_marker_is_closest" not in degraded
    assert "test_degraded.py::test_module_marker_is_lenient" not in degraded


def test_degraded_after_takes_its_seconds_as_a_keyword_too(plain: Run) -> None:
    assert re.fullmatch(TOOK, plain.values("synthetic_degraded")["test_degraded.py::test_seconds_as_keyword"])


def test_a_step_over_its_degraded_after_names_the_step(plain: Run) -> None:
    nodeid = "test_degraded.py::test_slow_step"
    why = plain.values("synthetic_degraded")[nodeid]
    assert re.fullmatch(r"step 'search' took \d+\.\d\d s, degraded after 0\.05 s", why), why
    steps = plain.report(nodeid, "call")["sections"]["Steps"].splitlines()
    assert steps[0].endswith("search  (degraded)") and steps[1].endswith("pay"), steps
    assert f"DEGRADED {nodeid} - step 'search' took" in plain.output


def test_degrade_makes_a_passing_journey_degraded_for_its_reason_on_one_line(plain: Run) -> None:
    nodeid = "test_degraded.py::test_fallback"
    assert plain.values("synthetic_degraded")[nodeid] == "served from the fallback"
    assert plain.report(nodeid, "call")["outcome"] == "passed"
    assert f"DEGRADED {nodeid} - served from the fallback" in plain.verdict_lines()


def test_a_failing_journey_is_never_degraded(plain: Run) -> None:
    failing = {
        "test_degraded.py::test_slow_and_failing",
        "test_degraded.py::test_fallback_then_refused",
        "test_degraded.py::test_slow_but_teardown_fails",
        "test_degraded.py::test_fails_twice",
    }
    assert failing <= set(plain.values("synthetic_reason"))
    assert not failing & set(plain.values("synthetic_degraded"))
    assert "test_degraded.py::test_skipped" not in plain.values("synthetic_degraded")
    assert not [line for line in plain.verdict_lines() if "DEGRADED" in line and "fail" in line]


def test_only_degraded_journeys_are_listed_as_degraded(plain: Run) -> None:
    listed = {line.split(" - ")[0] for line in plain.verdict_lines() if line.startswith("DEGRADED ")}
    assert listed == {
        f"DEGRADED test_degraded.py::{name}"
        for name in (
            "test_slow_search",
            "TestCheckout::test_class_marker_is_closer_than_the_module",
            "test_seconds_as_keyword",
            "test_slow_step",
            "test_fallback",
        )
    }


# Failure reasons


def test_every_failure_is_listed_once_with_its_reason(plain: Run) -> None:
    failed = sorted(line for line in plain.verdict_lines() if line.startswith("FAILED ("))
    assert failed == sorted(
        [
            "FAILED (network) test_reasons.py::test_network",
            "FAILED (http) test_reasons.py::test_http",
            "FAILED (assertion) test_reasons.py::test_assertion",
            "FAILED (error) test_reasons.py::test_error",
            "FAILED (timeout) test_reasons.py::test_timeout",
            "FAILED (error) test_blocked.py::test_coupon",
            "FAILED (error) test_blocked.py::test_coupon_again",
            "FAILED (assertion) test_degraded.py::test_slow_and_failing",
            "FAILED (network) test_degraded.py::test_fallback_then_refused",
            "FAILED (error) test_degraded.py::test_slow_but_teardown_fails",
            "FAILED (assertion) test_degraded.py::test_fails_twice",
        ]
    )


def test_the_reason_is_on_the_first_failed_report_only(plain: Run) -> None:
    nodeid = "test_degraded.py::test_fails_twice"
    assert plain.report(nodeid, "call")["synthetic_reason"] == "assertion"
    teardown = plain.report(nodeid, "teardown")
    assert teardown["outcome"] == "failed" and "synthetic_reason" not in teardown


# Blocked


def test_journeys_needing_a_failed_session_fixture_are_blocked_by_it_and_listed_once(plain: Run) -> None:
    blocked = {"test_blocked.py::test_pay", "test_blocked.py::test_book", "test_blocked.py::test_cancel"}
    assert {n: v for n, v in plain.values("synthetic_blocked_by").items() if n in blocked} == dict.fromkeys(
        blocked, "signed_in (session)"
    )
    assert {plain.values("synthetic_reason")[nodeid] for nodeid in blocked} == {"blocked"}
    assert [line for line in plain.verdict_lines() if "signed_in" in line] == [
        "BLOCKED 3 journeys (test_blocked.py::test_pay, test_blocked.py::test_book, test_blocked.py::test_cancel) "
        f"by fixture signed_in (session): {ERRNO_REFUSED}"
    ]
    assert not [line for line in plain.verdict_lines() if line.startswith("FAILED (blocked)")]
    assert "PASSED test_blocked.py::test_browse" in plain.output


def test_a_module_fixture_failing_through_a_session_fixture_blames_the_session_fixture(plain: Run) -> None:
    # test_pay needs cart (module), which needs signed_in (session): cart never ran, signed_in failed.
    assert plain.values("synthetic_blocked_by")["test_blocked.py::test_pay"] == "signed_in (session)"
    assert "cart" not in "\n".join(plain.verdict_lines())


def test_failed_module_and_class_fixtures_block_the_journeys_that_need_them(plain: Run) -> None:
    blocked_by = plain.values("synthetic_blocked_by")
    assert (
        blocked_by["test_blocked.py::test_stock"]
        == blocked_by["test_blocked.py::test_restock"]
        == ("inventory (module)")
    )
    assert blocked_by["test_blocked.py::TestBasket::test_add"] == "basket (class)"
    assert blocked_by["test_blocked.py::TestBasket::test_remove"] == "basket (class)"
    lines = plain.verdict_lines()
    assert (
        "BLOCKED 2 journeys (test_blocked.py::test_stock, test_blocked.py::test_restock) by fixture inventory "
        "(module): RuntimeError: inventory unavailable"
    ) in lines
    assert (
        "BLOCKED 2 journeys (test_blocked.py::TestBasket::test_add, test_blocked.py::TestBasket::test_remove) by "
        "fixture basket (class): RuntimeError: basket service down"
    ) in lines


def test_a_failed_function_fixture_is_the_journeys_own_error_not_a_block(plain: Run) -> None:
    for nodeid in ("test_blocked.py::test_coupon", "test_blocked.py::test_coupon_again"):
        setup = plain.report(nodeid, "setup")
        assert setup["outcome"] == "failed" and setup["synthetic_reason"] == "error"
        assert "synthetic_blocked_by" not in setup
    assert "coupon" not in "\n".join(line for line in plain.verdict_lines() if line.startswith("BLOCKED"))


def test_verdicts_leave_pytests_own_outcomes_alone(plain: Run) -> None:
    assert re.search(r"\b8 failed, 9 passed, 1 skipped, 11 errors\b", plain.output), plain.output[-3000:]


# pytest-xdist


def test_under_xdist_the_controller_gets_every_verdict_the_workers_found(plain: Run, distributed: Run) -> None:
    for key in ("synthetic_reason", "synthetic_blocked_by"):
        assert distributed.values(key) == plain.values(key), key
    assert set(distributed.values("synthetic_degraded")) == set(plain.values("synthetic_degraded"))
    assert distributed.values("synthetic_degraded")["test_degraded.py::test_fallback"] == "served from the fallback"


def test_under_xdist_the_summary_lists_degraded_and_blocked_journeys(distributed: Run) -> None:
    lines = distributed.verdict_lines()
    assert any(re.fullmatch(f"DEGRADED test_degraded.py::test_slow_search - {TOOK}", line) for line in lines), lines
    assert "DEGRADED test_degraded.py::test_fallback - served from the fallback" in lines
    # Each worker's session fixture failed on its own; they are one group, whatever worker ran which journey.
    signed_in = [line for line in lines if "by fixture signed_in (session)" in line]
    assert len(signed_in) == 1 and signed_in[0].startswith("BLOCKED 3 journeys ("), lines
    assert signed_in[0].endswith(ERRNO_REFUSED)
    assert "FAILED (timeout) test_reasons.py::test_timeout" in lines


# Settings: the option, bad values


OPTION_SUITE = """
    import time

    import pytest


    def test_default_threshold():
        time.sleep(0.2)


    @pytest.mark.degraded_after(5)
    def test_marker_overrides_the_option():
        time.sleep(0.2)
"""


def test_the_option_sets_a_default_threshold_that_a_marker_overrides(tmp_path: Path) -> None:
    folder = journeys(tmp_path, {"conftest.py": suite_conftest(""), "test_option.py": OPTION_SUITE})
    run = run_suite(folder, "--synthetic-degraded-after", "0.05")
    assert run.status == 0, run.output
    assert list(run.values("synthetic_degraded")) == ["test_option.py::test_default_threshold"]
    assert re.fullmatch(TOOK, run.values("synthetic_degraded")["test_option.py::test_default_threshold"])
    without = run_suite(folder)
    assert without.status == 0 and without.values("synthetic_degraded") == {}, without.output
    assert "synthetic-monitor verdicts" not in without.output


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf"])
def test_a_bad_option_value_is_a_usage_error_naming_the_option(tmp_path: Path, value: str) -> None:
    folder = journeys(tmp_path, {"conftest.py": suite_conftest(""), "test_option.py": OPTION_SUITE})
    run = run_suite(folder, f"--synthetic-degraded-after={value}")
    assert run.status == 4, run.output
    assert f"--synthetic-degraded-after must be a positive number of seconds, got {float(value)!r}" in run.output


BAD_MARKERS = """
    import pytest


    @pytest.mark.degraded_after(0)
    def test_zero():
        pass


    @pytest.mark.degraded_after("fast")
    def test_text():
        pass


    @pytest.mark.degraded_after()
    def test_no_value():
        pass


    @pytest.mark.degraded_after(True)
    def test_bool():
        pass


    def test_fine():
        pass


    def test_bad_step_threshold(step):
        with step("pay", degraded_after=-1):
            pass
"""


def test_a_bad_marker_value_fails_only_that_journey_in_setup_naming_the_rule(tmp_path: Path) -> None:
    folder = journeys(tmp_path, {"conftest.py": suite_conftest(""), "test_bad.py": BAD_MARKERS})
    run = run_suite(folder, "-rA")
    rule = "@pytest.mark.degraded_after(seconds) must be a positive number of seconds, got"
    for name, shown in (("test_zero", "0"), ("test_text", "'fast'"), ("test_no_value", "None"), ("test_bool", "True")):
        setup = run.report(f"test_bad.py::{name}", "setup")
        assert setup["outcome"] == "failed" and setup["synthetic_reason"] == "error", setup
        assert f"ERROR test_bad.py::{name} - Failed: {rule} {shown}" in run.output
    assert run.report("test_bad.py::test_fine", "call")["outcome"] == "passed"
    assert "1 passed" in run.output, run.output


def test_a_bad_step_threshold_fails_the_journey_naming_the_step(tmp_path: Path) -> None:
    folder = journeys(tmp_path, {"conftest.py": suite_conftest(""), "test_bad.py": BAD_MARKERS})
    run = run_suite(folder, "-rA", "-k", "step")
    call = run.report("test_bad.py::test_bad_step_threshold", "call")
    assert call["outcome"] == "failed" and "synthetic_degraded" not in call
    message = "step 'pay': degraded_after must be a positive number of seconds, got -1"
    assert f"FAILED test_bad.py::test_bad_step_threshold - Failed: {message}" in run.output, run.output


DYNAMIC = """
    import pytest


    @pytest.fixture(scope="session")
    def signed_in():
        raise RuntimeError("login refused")


    @pytest.fixture(scope="session")
    def account(request):
        return request.getfixturevalue("signed_in")


    def test_statement(account):
        pass


    def test_profile(signed_in):
        pass
"""


def test_a_failed_session_fixture_reached_through_getfixturevalue_is_the_one_blamed(tmp_path: Path) -> None:
    folder = journeys(tmp_path, {"conftest.py": suite_conftest(""), "test_dynamic.py": DYNAMIC})
    run = run_suite(folder)
    assert run.values("synthetic_blocked_by") == {
        "test_dynamic.py::test_statement": "signed_in (session)",
        "test_dynamic.py::test_profile": "signed_in (session)",
    }
    assert len([line for line in run.verdict_lines() if line.startswith("BLOCKED")]) == 1
