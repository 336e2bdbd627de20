"""The journey plugin: what journeys use, under the runner and under plain pytest alike.

Registered through the ``pytest11`` entry point ``synthetic_monitor``, so any journeys folder has it once the
package is installed. It brings the fixtures ``target_url``, ``http``, ``step`` and ``degrade`` and the markers
``labels`` and ``degraded_after``; a suite that uses none of them sees no difference (its options and ini keys
are namespaced). Every failure gets a reason (``runner.journey.verdict``), and a passing run that was slow, or
that said so, is degraded.

Usage::

    @pytest.mark.labels(team="payments", severity="warning")
    @pytest.mark.degraded_after(2.0)
    def test_guest_can_pay(http, target_url, step, degrade):
        with step("log in"):
            assert http.post(f"{target_url}/login", json={...}).status_code == 200
        with step("pay", degraded_after=1.0):
            answer = http.post(f"{target_url}/pay", json={...})
            assert answer.status_code == 200
        if answer.headers.get("X-Served-By") == "fallback":
            degrade("paid through the fallback provider")
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import pytest
import requests

from runner.handoff import frequency
from runner.handoff.results import StepResult, classify, failure_message, first_line, journey_id, safe_text
from runner.journey import tracing, verdict
from runner.journey.fixture_clock import FixtureClock
from runner.journey.labels import labels_problem
from runner.journey.phases import RequestLog
from runner.journey.session import TracedSession, http_timeout_seconds, user_agent
from runner.journey.terminal import VerdictSummary

DEFAULT_TARGET_URL = "http://127.0.0.1:8080"
TARGET_URL_ENV_VARS = ("TARGET_URL", "RESERVATIONS_SERVICE_URL")
MAX_STEPS = 20
MAX_STEP_NAME_CHARS = 64
STEPS_KEY = pytest.StashKey[list[StepResult]]()
FAILED_STEP_KEY = pytest.StashKey[str]()
TRACE_KEY = pytest.StashKey[str]()  # the trace id of the journey's current (or last) run
FAILURE_KEY = pytest.StashKey[verdict.Failure]()  # the current attempt's first failure
DEGRADED_KEY = pytest.StashKey[str]()  # why the current attempt, which passed, is degraded
CLOCK_KEY = pytest.StashKey[FixtureClock]()
REQUEST_LOG_KEY = pytest.StashKey[RequestLog]()  # the current attempt's requests through `http`
T = TypeVar("T")
# Under the runner: the start of node ids that the journeys folder accounts for (journey ids leave it out).
JOURNEY_PREFIX_KEY = pytest.StashKey[str]()
_RUN_KEY = pytest.StashKey[tracing.JourneyRun]()


@dataclass(slots=True)
class _Attempt:
    """One attempt of a journey as the plugin follows it, phase by phase."""

    threshold: float | None = None  # degraded after this many seconds
    seconds: float = 0.0  # its phases so far
    called: bool = False  # the call phase passed
    notes: list[str] = field(default_factory=list)  # degrade() reasons and slow steps


_ATTEMPT_KEY = pytest.StashKey[_Attempt]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--synthetic-target-url",
        default=None,
        help=f"base URL of the service under observation (else env {', '.join(TARGET_URL_ENV_VARS)}, "
        f"else {DEFAULT_TARGET_URL})",
    )
    parser.addoption(
        "--synthetic-interval",
        type=float,
        default=None,
        metavar="SECONDS",
        help="the runner's interval (the runner sets it): a journey's @pytest.mark.interval must be a multiple",
    )
    parser.addoption(
        "--synthetic-degraded-after",
        type=float,
        default=None,
        metavar="SECONDS",
        help="a journey that passes but takes longer is degraded (a @pytest.mark.degraded_after wins)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "labels(**labels): synthetic-monitor labels for the journey, e.g. team='payments', severity='warning'; "
        "they become synthetic_journey_info and route its alerts",
    )
    config.addinivalue_line(
        "markers",
        "degraded_after(seconds): synthetic-monitor calls the journey degraded when it passes but takes longer",
    )
    config.addinivalue_line(
        "markers",
        "slo(objective, window='30d'): synthetic-monitor keeps the journey's error budget and alerts on its burn "
        "rate, e.g. slo(objective=0.999)",
    )
    config.addinivalue_line(
        "markers",
        "interval(seconds): synthetic-monitor runs the journey every `seconds`, a whole multiple of its --interval "
        "(pytest runs it every time)",
    )
    threshold = config.getoption("--synthetic-degraded-after", None)
    if threshold is not None and verdict.threshold_problem(threshold):
        raise pytest.UsageError(f"--synthetic-degraded-after {verdict.threshold_problem(threshold)}")
    config.stash[CLOCK_KEY] = clock = FixtureClock()
    config.pluginmanager.register(clock, "synthetic-monitor-fixture-clock")
    config.pluginmanager.register(VerdictSummary(), "synthetic-monitor-verdicts")


@pytest.fixture(scope="session")
def target_url(pytestconfig: pytest.Config) -> str:
    """Base URL of the service under observation, without a trailing slash."""
    url = pytestconfig.getoption("--synthetic-target-url")
    for name in TARGET_URL_ENV_VARS:
        url = url or os.environ.get(name)
    return str(url or DEFAULT_TARGET_URL).rstrip("/")


@pytest.fixture
def http(request: pytest.FixtureRequest) -> Iterator[requests.Session]:
    """A fresh session per journey: default timeout, synthetic identity headers, bearer token if set; each
    request traced and timed by phase into the run's request log."""
    log = request.node.stash.setdefault(REQUEST_LOG_KEY, RequestLog())
    session = TracedSession(http_timeout_seconds(), log)
    session.headers["User-Agent"] = user_agent()
    session.headers["X-Synthetic-Request"] = "true"
    token = os.environ.get("TARGET_API_TOKEN")
    if token:
        session.headers["Authorization"] = f"Bearer {token}"
    with session:
        yield session


@pytest.fixture
def step(request: pytest.FixtureRequest) -> Callable[..., AbstractContextManager[None]]:
    """``with step("pay"): ...`` times one step of the journey; a failure inside names the step.

    ``step("pay", degraded_after=1.5)``: a step that passes but takes longer makes the journey degraded.
    """
    item = request.node
    steps = item.stash.setdefault(STEPS_KEY, [])  # emptied at every attempt's setup

    @contextmanager
    def timed(name: str, degraded_after: float | None = None) -> Iterator[None]:
        name = safe_text(str(name))[:MAX_STEP_NAME_CHARS]
        if name not in {done.name for done in steps} and len({done.name for done in steps}) >= MAX_STEPS:
            pytest.fail(
                f"journey has more than {MAX_STEPS} distinct steps (next: {name!r}); a step name is a "
                "label value: use fewer, fixed names",
                pytrace=False,
            )
        if degraded_after is not None and verdict.threshold_problem(degraded_after):
            pytest.fail(f"step {name!r}: degraded_after {verdict.threshold_problem(degraded_after)}", pytrace=False)
        started = time.perf_counter()
        try:
            with tracing.span(f"step {name}"):
                yield
        except BaseException:
            steps.append(StepResult(name, time.perf_counter() - started, passed=False))
            item.stash[FAILED_STEP_KEY] = name
            raise
        seconds = time.perf_counter() - started
        slow = degraded_after is not None and seconds > degraded_after
        steps.append(StepResult(name, seconds, passed=True, degraded=slow))
        if slow:
            _attempt(item).notes.append(verdict.step_note(name, seconds, degraded_after))  # type: ignore[arg-type]

    return timed


@pytest.fixture
def degrade(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """``degrade("served from the fallback cache")``: the run still passes, but is degraded for that reason."""
    item = request.node

    def mark(reason: str) -> None:
        _attempt(item).notes.append(verdict.note(reason))

    return mark


def _attempt(item: pytest.Item) -> _Attempt:
    return item.stash.setdefault(_ATTEMPT_KEY, _Attempt())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Each phase's report learns the verdict: a failure's reason, what blocked it, or why a pass is degraded.

    The run's span learns how each phase went; under plain pytest the steps show as a report section.
    """
    report = yield
    attempt = _attempt(item)
    attempt.seconds += report.duration
    if report.failed and FAILURE_KEY not in item.stash:
        item.stash[FAILURE_KEY] = failure = _failure(item, report, call)
        report.synthetic_reason = failure.reason  # type: ignore[attr-defined]  # travels with the report
        if failure.blocked_by:
            report.synthetic_blocked_by = f"{failure.blocked_by} ({failure.scope})"  # type: ignore[attr-defined]
    elif report.when == "call" and report.passed:
        attempt.called = True
    elif report.when == "teardown" and attempt.called and FAILURE_KEY not in item.stash:
        own_seconds = max(0.0, attempt.seconds - item.config.stash[CLOCK_KEY].seconds)
        degraded = verdict.degraded_message(own_seconds, attempt.threshold, attempt.notes)
        if degraded:
            item.stash[DEGRADED_KEY] = degraded
            report.synthetic_degraded = degraded  # type: ignore[attr-defined]
            report.sections.append(("synthetic-monitor", f"degraded: {degraded}"))
    run = item.stash.get(_RUN_KEY, None)
    if run is not None:
        if report.failed:
            run.fail(first_line(failure_message(report.longrepr)))
        if report.when == "teardown":
            run.end()
            del item.stash[_RUN_KEY]
    steps = item.stash.get(STEPS_KEY, [])
    if report.when == "call" and steps:
        lines = [
            f"{'passed' if s.passed else 'FAILED':<7} {s.seconds:8.3f}s  {s.name}{'  (degraded)' if s.degraded else ''}"
            for s in steps
        ]
        report.sections.append(("Steps", "\n".join(lines)))
    return report


def _failure(item: pytest.Item, report: pytest.TestReport, call: pytest.CallInfo[None]) -> verdict.Failure:
    """The reason of a failed phase, from its exception (or, without one, from its message)."""
    when = report.when or "call"
    exc = call.excinfo.value if call.excinfo is not None else None
    if exc is None:  # e.g. a strict xfail that passed
        return verdict.Failure(classify(when, first_line(failure_message(report.longrepr))))
    if when == "setup":
        blocker = verdict.blocking_fixture(item, exc)
        if blocker is not None:
            return verdict.Failure("blocked", *blocker)
    return verdict.Failure(verdict.failure_reason(exc, when))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Bad labels, thresholds or intervals fail this journey alone, before it runs, naming the rule."""
    item.config.stash[CLOCK_KEY].restart()
    if getattr(item, "execution_count", 1) > 1:
        _restart_timeout(item)
    # Every run, every retried attempt too, is a new trace.
    journey = journey_id(item.nodeid, item.config.stash.get(JOURNEY_PREFIX_KEY, ""))  # as the journey label
    run = item.stash[_RUN_KEY] = tracing.start_journey(journey)
    item.stash[TRACE_KEY] = run.trace_id
    # Every attempt starts afresh: without steps, failure or degradation of an attempt before it.
    item.stash[STEPS_KEY] = []
    attempt = item.stash[_ATTEMPT_KEY] = _Attempt(item.config.getoption("--synthetic-degraded-after", None))
    _forget(item.stash, FAILED_STEP_KEY)
    _forget(item.stash, FAILURE_KEY)
    _forget(item.stash, DEGRADED_KEY)
    _forget(item.stash, REQUEST_LOG_KEY)
    problem = labels_problem(item)
    if problem:
        pytest.fail(f"labels: {problem}", pytrace=False)
    try:
        attempt.threshold = verdict.marker_threshold(item) or attempt.threshold
        period = verdict.marker_seconds(item, "interval")
        verdict.marker_slo(item)
    except ValueError as exc:
        pytest.fail(str(exc), pytrace=False)
    runner_interval = item.config.getoption("--synthetic-interval", None)
    if period is not None and runner_interval:
        problem = frequency.period_problem(period, runner_interval)
        if problem:
            pytest.fail(f"@pytest.mark.interval(seconds) {problem}", pytrace=False)


def _forget(stash: pytest.Stash, key: pytest.StashKey[T]) -> None:
    if key in stash:
        del stash[key]


def _restart_timeout(item: pytest.Item) -> None:
    """Each attempt of a retried journey gets the whole timeout (pytest-timeout times the whole protocol)."""
    if not item.config.pluginmanager.hasplugin("timeout"):
        return
    import pytest_timeout  # noqa: PLC0415  (only with retries, and only where pytest-timeout is active)

    settings = pytest_timeout._get_item_settings(item)
    if settings.timeout and not settings.func_only:
        item.config.hook.pytest_timeout_cancel_timer(item=item)
        item.config.hook.pytest_timeout_set_timer(item=item, settings=settings)
