"""The journey plugin: what journeys use, under the runner and under plain pytest alike.

Registered through the ``pytest11`` entry point ``synthetic_monitor``, so any journeys folder has it once the
package is installed. It brings the fixtures ``target_url``, ``http`` and ``step`` and the marker
``labels``; a suite that uses none of them sees no difference (its options and ini keys are namespaced).

Usage::

    @pytest.mark.labels(team="payments", severity="warning")
    def test_guest_can_pay(http, target_url, step):
        with step("log in"):
            assert http.post(f"{target_url}/login", json={...}).status_code == 200
        with step("pay"):
            assert http.post(f"{target_url}/pay", json={...}).status_code == 200
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import AbstractContextManager, contextmanager
from importlib import metadata
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from opentelemetry.trace import SpanKind, Status, StatusCode

from runner.handoff.results import StepResult, failure_message, first_line, journey_id, safe_text
from runner.journey import tracing
from runner.settings.labels import MAX_LABEL_VALUE_CHARS

DEFAULT_TARGET_URL = "http://127.0.0.1:8080"
DEFAULT_HTTP_TIMEOUT_SECONDS = 5.0
TARGET_URL_ENV_VARS = ("TARGET_URL", "RESERVATIONS_SERVICE_URL")
MAX_STEPS = 20
MAX_STEP_NAME_CHARS = 64
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
RESERVED_LABELS = frozenset({"journey", "result", "step", "reason", "le", "quantile", "job", "instance", "location"})
STEPS_KEY = pytest.StashKey[list[StepResult]]()
FAILED_STEP_KEY = pytest.StashKey[str]()
TRACE_KEY = pytest.StashKey[str]()  # the trace id of the journey's current (or last) run
# Under the runner: the start of node ids that the journeys folder accounts for (journey ids leave it out).
JOURNEY_PREFIX_KEY = pytest.StashKey[str]()
_RUN_KEY = pytest.StashKey[tracing.JourneyRun]()


class TimeoutSession(requests.Session):
    """A session that gives every request a timeout unless the call names its own."""

    def __init__(self, timeout_seconds: float) -> None:
        super().__init__()
        self.timeout_seconds = timeout_seconds

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        """The request, in a client span of the journey's trace whose ``traceparent`` it carries."""
        kwargs.setdefault("timeout", self.timeout_seconds)
        verb = method.decode() if isinstance(method, bytes) else str(method)
        where = urlsplit(url.decode() if isinstance(url, bytes) else str(url))
        # Without the query string: it can hold secrets, and spans leave the monitor.
        address = f"{where.scheme}://{where.netloc.rpartition('@')[2]}{where.path}"
        with tracing.span(f"{verb.upper()} {where.path or '/'}", SpanKind.CLIENT) as span:
            span.set_attribute("http.request.method", verb.upper())
            span.set_attribute("url.full", address)
            kwargs["headers"] = headers = dict(kwargs.get("headers") or {})
            tracing.inject(headers)
            response = super().request(method, url, *args, **kwargs)
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 400:
                span.set_status(Status(StatusCode.ERROR, f"answered {response.status_code}"))
            return response


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--synthetic-target-url",
        default=None,
        help=f"base URL of the service under observation (else env {', '.join(TARGET_URL_ENV_VARS)}, "
        f"else {DEFAULT_TARGET_URL})",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "labels(**labels): synthetic-monitor labels for the journey, e.g. team='payments', severity='warning'; "
        "they become synthetic_journey_info and route its alerts",
    )


def http_timeout_seconds(env: dict[str, str] | os._Environ[str] = os.environ) -> float:
    """The default request timeout from ``SYNTHETIC_HTTP_TIMEOUT``; a bad value names the variable."""
    text = env.get("SYNTHETIC_HTTP_TIMEOUT", "")
    if not text:
        return DEFAULT_HTTP_TIMEOUT_SECONDS
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise pytest.UsageError(f"SYNTHETIC_HTTP_TIMEOUT must be a positive number of seconds, got {text!r}")
    return value


def _version() -> str:
    try:
        return metadata.version("synthetic-monitor")
    except metadata.PackageNotFoundError:
        return "unknown"


@pytest.fixture(scope="session")
def target_url(pytestconfig: pytest.Config) -> str:
    """Base URL of the service under observation, without a trailing slash."""
    url = pytestconfig.getoption("--synthetic-target-url")
    for name in TARGET_URL_ENV_VARS:
        url = url or os.environ.get(name)
    return str(url or DEFAULT_TARGET_URL).rstrip("/")


@pytest.fixture
def http() -> Iterator[requests.Session]:
    """A fresh session per journey: default timeout, synthetic identity headers, bearer token if set."""
    session = TimeoutSession(http_timeout_seconds())
    session.headers["User-Agent"] = f"synthetic-monitor/{_version()}"
    session.headers["X-Synthetic-Request"] = "true"
    token = os.environ.get("TARGET_API_TOKEN")
    if token:
        session.headers["Authorization"] = f"Bearer {token}"
    with session:
        yield session


@pytest.fixture
def step(request: pytest.FixtureRequest) -> Callable[[str], AbstractContextManager[None]]:
    """``with step("pay"): ...`` times one step of the journey; a failure inside names the step."""
    item = request.node
    steps = item.stash.setdefault(STEPS_KEY, [])  # emptied at every attempt's setup

    @contextmanager
    def timed(name: str) -> Iterator[None]:
        name = safe_text(str(name))[:MAX_STEP_NAME_CHARS]
        if name not in {done.name for done in steps} and len({done.name for done in steps}) >= MAX_STEPS:
            pytest.fail(
                f"journey has more than {MAX_STEPS} distinct steps (next: {name!r}); a step name is a "
                "label value: use fewer, fixed names",
                pytrace=False,
            )
        started = time.perf_counter()
        try:
            with tracing.span(f"step {name}"):
                yield
        except BaseException:
            steps.append(StepResult(name, time.perf_counter() - started, passed=False))
            item.stash[FAILED_STEP_KEY] = name
            raise
        steps.append(StepResult(name, time.perf_counter() - started, passed=True))

    return timed


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """The run's span learns how each phase went; under plain pytest the steps show as a report section."""
    report = yield
    run = item.stash.get(_RUN_KEY, None)
    if run is not None:
        if report.failed:
            run.fail(first_line(failure_message(report.longrepr)))
        if report.when == "teardown":
            run.end()
            del item.stash[_RUN_KEY]
    steps = item.stash.get(STEPS_KEY, [])
    if report.when == "call" and steps:
        lines = [f"{'passed' if s.passed else 'FAILED':<7} {s.seconds:8.3f}s  {s.name}" for s in steps]
        report.sections.append(("Steps", "\n".join(lines)))
    return report


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Bad labels fail this journey alone, before it runs, naming the label and the rule."""
    if getattr(item, "execution_count", 1) > 1:
        _restart_timeout(item)
    # Every run, every retried attempt too, is a new trace.
    journey = journey_id(item.nodeid, item.config.stash.get(JOURNEY_PREFIX_KEY, ""))  # as the journey label
    run = item.stash[_RUN_KEY] = tracing.start_journey(journey)
    item.stash[TRACE_KEY] = run.trace_id
    # Every attempt starts without steps: an attempt that fails before the step fixture is set up has none.
    item.stash[STEPS_KEY] = []
    if FAILED_STEP_KEY in item.stash:
        del item.stash[FAILED_STEP_KEY]
    problem = labels_problem(item)
    if problem:
        pytest.fail(f"labels: {problem}", pytrace=False)


def _restart_timeout(item: pytest.Item) -> None:
    """Each attempt of a retried journey gets the whole timeout (pytest-timeout times the whole protocol)."""
    if not item.config.pluginmanager.hasplugin("timeout"):
        return
    import pytest_timeout  # noqa: PLC0415  (only with retries, and only where pytest-timeout is active)

    settings = pytest_timeout._get_item_settings(item)
    if settings.timeout and not settings.func_only:
        item.config.hook.pytest_timeout_cancel_timer(item=item)
        item.config.hook.pytest_timeout_set_timer(item=item, settings=settings)


def journey_labels(item: pytest.Item) -> dict[str, str]:
    """The journey's labels, merged as pytest merges markers (the closest wins); {} when one is invalid."""
    merged = _merged_labels(item)
    if any(label_problem(name, value) for name, value in merged.items()):
        return {}
    return {name: safe_text(str(value)) for name, value in merged.items()}


def labels_problem(item: pytest.Item) -> str:
    """What is wrong with the journey's labels, or ''."""
    for name, value in _merged_labels(item).items():
        problem = label_problem(name, value)
        if problem:
            return problem
    return ""


def _merged_labels(item: pytest.Item) -> dict[str, object]:
    merged: dict[str, object] = {}
    for marker in item.iter_markers("labels"):  # closest first
        for name, value in marker.kwargs.items():
            merged.setdefault(name, value)
    return merged


def label_problem(name: str, value: object) -> str:
    """Why a label cannot be a Prometheus label of the journey, or '' if it can."""
    if not LABEL_NAME.match(name):
        return f"label name {name!r} is not a valid Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)"
    if name in RESERVED_LABELS or name.startswith("__"):
        return f"label name {name!r} is reserved by synthetic-monitor or Prometheus; choose another name"
    if not isinstance(value, str):
        return f"label {name!r} must be a string, got {type(value).__name__}"
    if len(value) > MAX_LABEL_VALUE_CHARS:
        return f"label {name!r} is {len(value)} characters long; at most {MAX_LABEL_VALUE_CHARS} are allowed"
    return ""
