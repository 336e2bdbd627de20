"""Why a journey failed and what blocked it, from the exception pytest saw; whether a passing run was degraded.

Pure functions over exceptions, pytest items and numbers; the journey plugin calls them from its hooks.

Usage::

    failure_reason(requests.ConnectionError("refused"), "call")      # -> "network"
    blocking_fixture(item, excinfo.value)                             # -> ("signed_in", "session") or None
    degraded_message(2.31, 1.5, notes=[])                             # -> "took 2.31 s, degraded after 1.50 s"
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pytest

from runner.handoff.results import KILLED_PREFIX, PYTEST_TIMEOUT_MARK, safe_text

FUNCTION_SCOPE = "function"
MAX_NOTE_CHARS = 200
MAX_NOTES = 5
# Exception classes by (top-level package, class name), matched over the exception's whole MRO, so that no
# optional client library needs importing. Checked in this order: an SSLError of requests is also one of its
# ConnectionErrors, urllib's HTTPError also a URLError.
TLS_ERRORS = frozenset(
    {
        ("ssl", "SSLError"),
        ("requests", "SSLError"),
        ("urllib3", "SSLError"),
        ("aiohttp", "ClientSSLError"),
    }
)
HTTP_ERRORS = frozenset(
    {
        ("requests", "HTTPError"),
        ("httpx", "HTTPStatusError"),
        ("aiohttp", "ClientResponseError"),
        ("urllib", "HTTPError"),
    }
)
NETWORK_ERRORS = frozenset(
    {
        ("builtins", "ConnectionError"),  # refused, reset, aborted, broken pipe
        ("builtins", "TimeoutError"),  # socket.timeout too
        ("socket", "gaierror"),  # DNS
        ("socket", "herror"),
        ("requests", "ConnectionError"),  # includes ConnectTimeout
        ("requests", "Timeout"),  # ReadTimeout
        ("urllib3", "NewConnectionError"),
        ("urllib3", "TimeoutError"),
        ("urllib3", "ProtocolError"),
        ("urllib3", "MaxRetryError"),
        ("httpx", "TransportError"),  # connect, read, write and pool timeouts, network and protocol errors
        ("aiohttp", "ClientConnectionError"),
        ("aiohttp", "ServerTimeoutError"),
        ("urllib", "URLError"),
        ("http", "RemoteDisconnected"),
        ("http", "IncompleteRead"),
    }
)
CLIENT_ERRORS = (("tls", TLS_ERRORS), ("http", HTTP_ERRORS), ("network", NETWORK_ERRORS))
# Chromium's own network error codes, as Playwright reports them: net::ERR_CERT_DATE_INVALID, ...
BROWSER_TLS_MARKS = ("net::ERR_CERT_", "net::ERR_SSL_", "net::ERR_BAD_SSL_")
BROWSER_NETWORK_MARK = "net::ERR_"


@dataclass(frozen=True, slots=True)
class Failure:
    """The first failure of a journey's run: its reason and, when blocked, the fixture that blocked it."""

    reason: str
    blocked_by: str = ""
    scope: str = ""  # the blocking fixture's scope


def causes(exc: BaseException) -> list[BaseException]:
    """The chain under ``exc``, root cause first: ``raise ... from`` causes, an exception group's first
    exception at any depth, and the exception urllib's ``URLError`` keeps as its ``reason``."""
    chain = [exc]
    seen = {id(exc)}
    while True:
        if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
            below: BaseException | None = exc.exceptions[0]
        elif exc.__cause__ is not None:
            below = exc.__cause__
        else:
            below = getattr(exc, "reason", None) if _is(exc, ("urllib", "URLError")) else None
        if not isinstance(below, BaseException) or id(below) in seen:
            return chain[::-1]
        exc = below
        chain.append(exc)
        seen.add(id(exc))


def root_cause(exc: BaseException) -> BaseException:
    """The end of the chain under ``exc`` (see ``causes``)."""
    return causes(exc)[0]


def failure_reason(exc: BaseException, when: str) -> str:
    """Where a run broke, from the exception that ended a phase (``setup``, ``call`` or ``teardown``).

    ``timeout`` (pytest-timeout, or the runner killed it), ``tls``, ``http`` (an error status the client
    raised), ``network``, ``assertion`` (an assert or ``pytest.fail`` in the journey's call) or ``error``.
    The chain is read from its root cause outwards, and the first client error found names the reason: a
    library's own exception wrapped by the client's (httpcore's by httpx's) is still the client's.
    """
    text = str(exc)
    if PYTEST_TIMEOUT_MARK in text or text.startswith(("Timeout (>", KILLED_PREFIX)):
        return "timeout"
    chain = causes(exc)
    for link in chain:
        kinds = _kinds(link)
        for reason, known in CLIENT_ERRORS:
            if kinds & known:
                return reason
        browser = _browser_reason(str(link)) if any(module == "playwright" for module, _ in kinds) else ""
        if browser:
            return browser
    root = chain[0]
    return "assertion" if when == "call" and isinstance(root, AssertionError | pytest.fail.Exception) else "error"


def _kinds(exc: BaseException) -> set[tuple[str, str]]:
    return {(cls.__module__.partition(".")[0], cls.__name__) for cls in type(exc).__mro__}


def _is(exc: BaseException, kind: tuple[str, str]) -> bool:
    return kind in _kinds(exc)


def _browser_reason(text: str) -> str:
    if any(mark in text for mark in BROWSER_TLS_MARKS):
        return "tls"
    return "network" if BROWSER_NETWORK_MARK in text else ""


def blocking_fixture(item: pytest.Item, exc: BaseException) -> tuple[str, str] | None:
    """The fixture wider than the journey whose failure ``exc`` is, with its scope; None if there is none.

    pytest keeps a failed fixture's exception and raises that very object for every journey that needs the
    fixture, so it is found by identity. When several fixtures hold the same exception (one needed the other),
    the one that raised it is the innermost being set up in the exception's traceback (the ``fixturedef`` of
    the ``pytest_fixture_setup`` hook), even when it was reached through ``request.getfixturevalue()`` and so is
    in no journey's list of fixtures.
    """
    definitions = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    own = [chain[-1] for name in getattr(item, "fixturenames", ()) if (chain := definitions.get(name))]
    failed = [d for d in own if d.scope != FUNCTION_SCOPE and _cached_exception(d) is exc]
    if not failed:
        return None
    raiser = _being_set_up(exc)
    if raiser is None or raiser.scope == FUNCTION_SCOPE or _cached_exception(raiser) is not exc:
        names = {definition.argname for definition in failed}
        raiser = next((d for d in failed if not set(d.argnames) & (names - {d.argname})), failed[0])
    return raiser.argname, raiser.scope


def _being_set_up(exc: BaseException) -> pytest.FixtureDef[object] | None:
    """The innermost fixture being set up where ``exc`` was raised, from its traceback's frames."""
    found = None
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_name == "pytest_fixture_setup":
            found = frame.f_locals.get("fixturedef", found)
    return found


def _cached_exception(definition: pytest.FixtureDef[object]) -> BaseException | None:
    cached = definition.cached_result
    if not cached or cached[2] is None:
        return None
    # pytest 8 and later keep (exception, traceback); pytest 7 kept sys.exc_info()'s triple.
    return next((part for part in cached[2] if isinstance(part, BaseException)), None)


def threshold_problem(value: object) -> str:
    """Why ``value`` cannot be a degraded_after threshold in seconds, or ''."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
        return f"must be a positive number of seconds, got {value!r}"
    return ""


def marker_seconds(item: pytest.Item, name: str) -> float | None:
    """The closest ``@pytest.mark.<name>(seconds)``'s seconds (``degraded_after``, ``interval``); None without one.

    Raises ValueError naming the rule when the marker's value is not a positive number.
    """
    marker = item.get_closest_marker(name)
    if marker is None:
        return None
    value = marker.args[0] if marker.args else marker.kwargs.get("seconds")
    problem = threshold_problem(value)
    if problem:
        raise ValueError(f"@pytest.mark.{name}(seconds) {problem}")
    return float(value)  # type: ignore[arg-type]


SLO_WINDOWS = {"7d": 7 * 86400, "28d": 28 * 86400, "30d": 30 * 86400}  # those the shipped rules compute
DEFAULT_SLO_WINDOW = "30d"


def marker_slo(item: pytest.Item) -> tuple[float, int] | None:
    """The closest ``@pytest.mark.slo(objective=0.999, window="28d")``: (objective, window seconds); None without.

    Raises ValueError naming the rule when the objective is not between 0 and 1 or the window is not one the
    shipped rules compute.
    """
    marker = item.get_closest_marker("slo")
    if marker is None:
        return None
    objective = marker.kwargs.get("objective", marker.args[0] if marker.args else None)
    window = marker.kwargs.get("window", DEFAULT_SLO_WINDOW)
    if isinstance(objective, bool) or not isinstance(objective, int | float) or not 0 < objective < 1:
        raise ValueError(
            f"@pytest.mark.slo(objective=...) must be a share between 0 and 1 such as 0.999, got {objective!r}"
        )
    if window not in SLO_WINDOWS:
        raise ValueError(
            f"@pytest.mark.slo(window=...) must be one of {', '.join(map(repr, SLO_WINDOWS))}, got {window!r}"
        )
    return float(objective), SLO_WINDOWS[window]


def marker_threshold(item: pytest.Item) -> float | None:
    """The closest ``@pytest.mark.degraded_after(seconds)``'s seconds; None without one (see ``marker_seconds``)."""
    return marker_seconds(item, "degraded_after")


def note(text: object) -> str:
    """A degradation note as the page and metrics file may carry it: one line, bounded."""
    return " ".join(safe_text(str(text)).split())[:MAX_NOTE_CHARS] or "degraded"


def step_note(name: str, seconds: float, threshold: float) -> str:
    """What a slow step says: ``step 'search' took 2.31 s, degraded after 1.50 s``."""
    return f"step {name!r} took {seconds:.2f} s, degraded after {threshold:.2f} s"


def degraded_message(duration_seconds: float, threshold: float | None, notes: Sequence[str]) -> str:
    """Why a passing run is degraded ('' when it is not): the journey's own notes and slow steps, then its time."""
    parts = list(notes)
    if threshold is not None and duration_seconds > threshold:
        parts.append(f"took {duration_seconds:.2f} s, degraded after {threshold:.2f} s")
    return "; ".join(_first(parts, MAX_NOTES))


def _first(parts: Iterable[str], count: int) -> list[str]:
    kept = list(parts)
    return kept if len(kept) <= count else [*kept[:count], f"and {len(kept) - count} more"]
