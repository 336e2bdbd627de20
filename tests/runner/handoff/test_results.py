"""Turning pytest's own reports into journey results, from reports of a real pytest run."""

from __future__ import annotations

import marshal
import os
import textwrap
from collections import defaultdict

import pytest

from runner.handoff.observations import Certificate, Observations, RequestTiming
from runner.handoff.results import (
    CRASH_PREFIX,
    KILLED_PREFIX,
    FixtureTiming,
    JourneyResult,
    StepResult,
    classify,
    collection_message,
    failure_message,
    journey_id,
    journey_result,
    node_prefix,
    safe_text,
    session_error,
)

SAMPLE = """
    import pytest, time

    class ConnectionError(Exception):
        pass

    @pytest.fixture
    def broken_setup():
        raise RuntimeError("database unreachable")

    @pytest.fixture
    def broken_teardown():
        yield
        raise RuntimeError("cleanup failed")

    def test_passes():
        time.sleep(0.01)

    def test_fails():
        status = 500
        assert status == 200, "POST /reservations answered 500"

    def test_fails_bare_assert():
        assert 1 == 2

    def test_pytest_fail():
        pytest.fail("no reservation id")

    def test_raises():
        raise ConnectionError("Connection refused")

    def test_setup_error(broken_setup):
        pass

    def test_teardown_error(broken_teardown):
        pass

    def test_skipped():
        pytest.skip("not today")

    @pytest.mark.xfail(reason="known")
    def test_xfail():
        assert False

    @pytest.mark.xfail(reason="fixed meanwhile")
    def test_xpass():
        pass

    @pytest.mark.xfail(reason="fixed meanwhile", strict=True)
    def test_xpass_strict():
        pass

    @pytest.mark.parametrize("code", [200, 404, "<script>"])
    def test_param(code):
        assert code == 200

    @pytest.mark.timeout(0.2)
    def test_times_out():
        time.sleep(5)
"""


class _Reports:
    def __init__(self) -> None:
        self.by_node: dict[str, list[pytest.TestReport]] = defaultdict(list)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.by_node[report.nodeid].append(report)


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[pytest.TestReport]]:
    """Every phase report of a real in-process pytest run of SAMPLE, by node id."""
    folder = tmp_path_factory.mktemp("sample")
    (folder / "test_sample.py").write_text(textwrap.dedent(SAMPLE))
    collector = _Reports()
    args = [str(folder), "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "--rootdir", str(folder), "-c", "/dev/null"]
    pytest.main([*args, "--timeout-method=signal"], plugins=[collector])
    return {nodeid.split("::", 1)[1]: phases for nodeid, phases in collector.by_node.items()}


def result(reports: dict[str, list[pytest.TestReport]], name: str) -> JourneyResult | None:
    return journey_result(f"test_sample.py::{name}", reports[name])


def test_passed_test_is_a_success_with_its_full_duration(reports: dict[str, list[pytest.TestReport]]) -> None:
    passed = result(reports, "test_passes")
    assert passed is not None and passed.passed and passed.reason is None
    assert passed.duration_seconds == pytest.approx(sum(r.duration for r in reports["test_passes"]))
    assert passed.duration_seconds >= 0.01


def test_shared_fixture_time_is_left_out_of_the_duration(reports: dict[str, list[pytest.TestReport]]) -> None:
    phases = reports["test_passes"]
    total = sum(r.duration for r in phases)
    shorter = journey_result("j", phases, shared_seconds=0.005)
    assert shorter is not None and shorter.duration_seconds == pytest.approx(total - 0.005)
    never_negative = journey_result("j", phases, shared_seconds=total + 1)
    assert never_negative is not None and never_negative.duration_seconds == 0.0


def test_failed_assertion_is_a_failure_with_its_message(reports: dict[str, list[pytest.TestReport]]) -> None:
    failed = result(reports, "test_fails")
    assert failed is not None and not failed.passed
    assert failed.reason == "assertion"
    assert failed.headline == "AssertionError: POST /reservations answered 500"
    assert failed.message == "AssertionError: POST /reservations answered 500\nassert 500 == 200"


def test_bare_assert_and_pytest_fail_count_as_assertions(reports: dict[str, list[pytest.TestReport]]) -> None:
    assert getattr(result(reports, "test_fails_bare_assert"), "reason", None) == "assertion"
    assert getattr(result(reports, "test_pytest_fail"), "reason", None) == "assertion"


def test_exception_in_the_journey_is_an_error(reports: dict[str, list[pytest.TestReport]]) -> None:
    raised = result(reports, "test_raises")
    assert raised is not None and (raised.passed, raised.reason) == (False, "error")
    assert raised.message == "test_sample.ConnectionError: Connection refused"


def test_setup_and_teardown_errors_are_failures(reports: dict[str, list[pytest.TestReport]]) -> None:
    setup, teardown = result(reports, "test_setup_error"), result(reports, "test_teardown_error")
    assert setup is not None and teardown is not None
    assert (setup.passed, setup.reason, setup.message) == (False, "error", "RuntimeError: database unreachable")
    assert (teardown.passed, teardown.reason, teardown.message) == (False, "error", "RuntimeError: cleanup failed")


def test_skipped_and_xfailed_give_no_observation(reports: dict[str, list[pytest.TestReport]]) -> None:
    assert result(reports, "test_skipped") is None
    assert result(reports, "test_xfail") is None


def test_xpassed_is_a_success_and_a_strict_xpass_a_failure(reports: dict[str, list[pytest.TestReport]]) -> None:
    xpass, strict = result(reports, "test_xpass"), result(reports, "test_xpass_strict")
    assert xpass is not None and xpass.passed
    assert strict is not None and not strict.passed
    assert "XPASS(strict)" in strict.message


def test_parametrized_journeys_fail_by_their_own_parameter(reports: dict[str, list[pytest.TestReport]]) -> None:
    assert getattr(result(reports, "test_param[200]"), "passed", None) is True
    assert getattr(result(reports, "test_param[404]"), "passed", None) is False
    assert getattr(result(reports, "test_param[<script>]"), "passed", None) is False


def test_pytest_timeout_is_a_timeout(reports: dict[str, list[pytest.TestReport]]) -> None:
    timed_out = result(reports, "test_times_out")
    assert timed_out is not None and (timed_out.passed, timed_out.reason) == (False, "timeout")


def test_journey_ids_are_relative_to_the_journeys_folder() -> None:
    assert node_prefix("/srv/monitor", "/srv/monitor/journeys") == "journeys/"
    assert node_prefix("/srv/monitor", "/srv/monitor") == ""
    assert node_prefix("/srv/monitor", "/elsewhere/journeys") == ""  # outside the rootdir: ids as pytest has them
    assert journey_id("journeys/test_a.py::test_b", "journeys/") == "test_a.py::test_b"
    assert journey_id("test_a.py::test_b", "") == "test_a.py::test_b"
    assert journey_id("journeys", "journeys/") == ""


@pytest.mark.parametrize(
    ("stage", "message", "reason"),
    [
        ("call", "AssertionError: x", "assertion"),
        ("setup", "AssertionError: x", "error"),
        ("call", "requests.exceptions.ReadTimeout: read timed out", "error"),
        ("teardown", "Failed: Timeout (>2.0s) from pytest-timeout.", "timeout"),
        ("call", f"{CRASH_PREFIX} (signal 11 (SIGSEGV)) while it ran", "crash"),
        ("setup", f"{KILLED_PREFIX} of 2s and its process was killed", "timeout"),
    ],
)
def test_classify(stage: str, message: str, reason: str) -> None:
    assert classify(stage, message) == reason


def test_safe_text_replaces_each_undecodable_byte_and_keeps_the_rest() -> None:
    assert safe_text(os.fsdecode(b"caf\xe9 \xff\xfe")) == "caf\ufffd \ufffd\ufffd"
    assert safe_text("caf\u00e9 \u2713") == "caf\u00e9 \u2713"  # real non-ASCII text is left alone
    assert safe_text("\ud83d") == "\ufffd"  # a lone surrogate of any kind
    safe_text(os.fsdecode(b"t\xffam")).encode("utf-8")  # any UTF-8 output can carry it


def test_ids_messages_and_collection_errors_come_out_safe() -> None:
    name = os.fsdecode(b"test_caf\xe9.py")
    assert journey_id(f"journeys/{name}::test_x", "journeys/") == "test_caf\ufffd.py::test_x"
    assert node_prefix("/", os.fsdecode(b"/srv/j\xe9")) == "srv/j\ufffd/"
    assert failure_message(os.fsdecode(b"AssertionError: \xff")) == "AssertionError: \ufffd"
    assert collection_message(os.fsdecode(b"E   SyntaxError: \xff")) == "SyntaxError: \ufffd"


def _raise_from_a_hook() -> None:
    raise RuntimeError("hook broke")


def test_session_error_names_the_exception_and_the_hook_outside_pytest() -> None:
    try:
        _raise_from_a_hook()
    except RuntimeError as exc:
        text = session_error("internal error", exc)
    first, second = text.splitlines()
    assert first == "pytest internal error: RuntimeError: hook broke"
    assert second.startswith("in _raise_from_a_hook, ") and __file__ in second


def test_a_result_and_a_fixture_timing_cross_the_wire_unchanged() -> None:
    result = JourneyResult(
        "test_a.py::test_b[caf\u00e9]",
        False,
        1.25,
        "assertion",
        "step 'pay': AssertionError: declined",
        (StepResult("log in", 0.5, True), StepResult("pay", 0.75, False)),
        3,
        "AssertionError: first",
        "0af7651916cd43dd8448eb211c80319c",
        (("page", "http://127.0.0.1/book"), ("screenshot", "/tmp/x.png")),
        observed=Observations(
            3,
            (0.001, 0.002, 0.01, 0.5, 0.03),
            (RequestTiming("GET", "https://shop.example/", 200, (0.001, 0.002, 0.01, 0.5, 0.03)),),
            RequestTiming("POST", "https://shop.example/pay", 0, (0.0, 0.0, 0.0, 5.0, 0.0)),
            (Certificate("shop.example:443", 1.8e9, "TLSv1.3", "R11"),),
            (("lcp", 1.25), ("cls", 0.0)),
        ),
    )
    sent = marshal.loads(marshal.dumps(result.to_wire()))  # what the pipe carries
    assert JourneyResult.from_wire(result.journey, sent) == result
    plain = JourneyResult("test_a.py::test_c", True, 0.01)
    assert plain.to_wire()[-1] is None  # a journey that saw nothing sends nothing for it
    assert JourneyResult.from_wire(plain.journey, marshal.loads(marshal.dumps(plain.to_wire()))) == plain
    timing = FixtureTiming("database", "session", "setup", 0.125)
    assert FixtureTiming(*marshal.loads(marshal.dumps(timing.to_wire()))) == timing
