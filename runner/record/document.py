"""The /api/results document, defined once: what the page renders and the API serves (README, "The status page
and /api/results"). mypy checks every place that builds or reads it against these types.

Usage::

    document: Document = monitor.results()
    for journey in document["journeys"]:
        journey["state"]     # passing, degraded, flaky, failing, blocked or "not yet run"
"""

from __future__ import annotations

from typing import NotRequired, TypedDict


class HistoryEntry(TypedDict):
    """One run of a journey, oldest first in ``history``."""

    at: float  # Unix seconds, when the run's cycle finished
    passed: bool
    flaky: bool  # passed only on a retry
    degraded: bool  # passed, but slow or said so
    muted: bool  # ran in a mute maintenance window
    duration_seconds: float
    reason: str | None  # when it failed: assertion, http, network, tls, timeout, crash, blocked or error
    trace_id: str


class StepEntry(TypedDict):
    """One ``with step(name):`` block of the journey's last run, in order."""

    name: str
    seconds: float
    passed: bool
    degraded: bool  # passed, but took longer than its degraded_after


class Artifact(TypedDict):
    """Evidence of the latest failed browser run: a screenshot (``url`` under /artifacts/) or the page's URL."""

    kind: str
    url: str


class MaintenanceEntry(TypedDict):
    """The maintenance window a journey is in now."""

    name: str
    mode: str  # pause (not run) or mute (run and recorded, never alerting)
    until: float  # Unix seconds


class WindowEntry(TypedDict):
    """An occurrence of a maintenance window, in force now or starting within a week."""

    name: str
    mode: str
    id: str  # an ad-hoc window's (DELETE /api/maintenance/<id> ends it); "" for one of --maintenance
    journeys: dict[str, object] | None  # {"labels": {...}, "match": "..."}; None: every journey
    start: float  # Unix seconds
    end: float
    in_force: bool


# The share of counted runs that passed over each window (0 to 1), or None without runs. The keys are no names.
UptimeEntry = TypedDict(
    "UptimeEntry", {"24h": float | None, "7d": float | None, "30d": float | None, "90d": float | None}
)


class DayEntry(TypedDict):
    """One UTC day of the suite's runs, for the 90-day strip."""

    day: float  # Unix seconds of the day's midnight, UTC
    runs: int  # counted runs: those in a mute window are apart
    failures: int
    degraded: int
    muted: int


class SloEntry(TypedDict):
    """A journey's @pytest.mark.slo, and how its error budget stands by the runner's own hourly totals."""

    objective: float
    window_seconds: int
    budget_left: float | None  # 1 - (error ratio over the window) / (1 - objective); below 0 once spent
    burn_rate_1h: float | None  # the last hour's error ratio / (1 - objective): 1 spends the budget in the window
    state: str  # "fast burn" (14.4x over 1 h or 6x over 6 h), "slow burn" (3x over 1 d or 1x over 3 d), "ok"


class RequestEntry(TypedDict):
    """One HTTP request (one hop of a redirect) of the journey's last run, through the ``http`` fixture."""

    method: str
    url: str  # without user, password, query string or fragment
    status: int  # 0: no answer
    seconds: float  # the phases add up to it
    phases: dict[str, float]  # resolve, connect, tls, processing, transfer (blackbox_exporter's names), seconds


class VitalEntry(TypedDict):
    """A Core Web Vital of the browser journey's last run (the worst of its pages), rated by web.dev."""

    value: float  # seconds; CLS has no unit
    rating: str  # good, needs improvement or poor


class CertificateEntry(TypedDict):
    """The certificate chain an HTTPS server presented to a journey, as last seen."""

    host: str  # host:port as the journey asked for it
    not_after: float  # Unix seconds: the earliest notAfter in the chain
    days_left: float
    version: str  # TLSv1.3
    issuer: str


class ObservedPart(TypedDict):
    """What a journey's last run saw of the wire and of the page."""

    requests: list[RequestEntry]  # the first 20, in order
    requests_total: int  # all of them
    slowest_request: RequestEntry | None
    web_vitals: dict[str, VitalEntry]  # lcp, fcp, cls, ttfb, inp: those its pages reported


class JourneyEntry(TypedDict):
    """A journey's state and recent runs."""

    journey: str  # its id, relative to the journeys folder
    state: str  # passing, degraded, flaky, failing, blocked or "not yet run"
    last_run_at: float | None
    last_duration_seconds: float | None
    failing_since: float | None
    reason: str | None
    message: str  # the failure's first lines (for a flaky run, the first attempt's)
    degraded: str  # why the last run, which passed, is degraded ("took 2.31 s, degraded after 1.50 s"), or ""
    blocked_by: str | None  # the wider fixture whose failure failed the last run (reason "blocked")
    trace_id: str
    steps: list[StepEntry]
    history: list[HistoryEntry]
    requests: list[RequestEntry]  # its last run's requests through `http`: the first 20, in order
    requests_total: int
    slowest_request: RequestEntry | None
    web_vitals: dict[str, VitalEntry]  # a browser journey's last run: lcp, fcp, cls, ttfb, inp (those reported)
    artifacts: NotRequired[list[Artifact]]
    artifacts_at: NotRequired[float | None]
    trace_url: NotRequired[str | None]  # with --trace-url
    interval_seconds: NotRequired[float]  # how often it runs: its @pytest.mark.interval, else the runner's
    next_run_at: NotRequired[float | None]  # when it runs next (Unix seconds); None before the first cycle
    maintenance: NotRequired[MaintenanceEntry | None]  # the window it is in now, if any
    uptime: NotRequired[UptimeEntry]
    slo: NotRequired[SloEntry | None]


class CollectionErrorEntry(TypedDict):
    """A journey file that failed to load."""

    path: str
    message: str


class LastCycle(TypedDict):
    """The last cycle that ran its suite."""

    finished_at: float
    duration_seconds: float
    passed: int
    failed: int
    collection_errors: list[CollectionErrorEntry]


class SuiteError(TypedDict):
    """Why the last cycle could not run its suite, or broke off (pytest's words)."""

    at: float
    stage: str  # collection (at start-up) or cycle
    message: str


class Document(TypedDict):
    """GET /api/results."""

    generated_at: float
    interval_seconds: float
    location: str | None
    shard: str  # K/N
    suite_error: SuiteError | None
    last_cycle: LastCycle | None
    journeys: list[JourneyEntry]
    maintenance: NotRequired[list[WindowEntry]]  # windows in force or starting within a week, by start
    uptime: NotRequired[UptimeEntry]  # the whole suite's
    uptime_days: NotRequired[list[DayEntry]]  # the suite's last 90 UTC days, oldest first
    certificates: NotRequired[list[CertificateEntry]]  # of the HTTPS hosts the journeys reach, soonest expiry first


class HistoryPart(TypedDict):
    """What the history contributes to the document."""

    last_cycle: LastCycle | None
    journeys: list[JourneyEntry]
