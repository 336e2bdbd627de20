"""The ``http`` fixture's session: a timeout on every request, traced, and timed by phase.

Each request gets the session's timeout unless the call names its own, runs in a client span of the journey
run's trace whose ``traceparent`` it carries, and is timed phase by phase into the run's ``RequestLog``
(``runner.journey.phases``); the span carries the phases too.

Usage::

    log = RequestLog()
    with TracedSession(timeout_seconds=5.0, log=log) as session:
        session.get("https://shop.example/health")
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from importlib import metadata
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest
import requests
from opentelemetry.trace import SpanKind, Status, StatusCode
from requests.adapters import BaseAdapter, HTTPAdapter
from requests.sessions import merge_setting
from requests.utils import get_environ_proxies

from runner.handoff.observations import PHASES
from runner.journey import phases, tracing
from runner.journey.phases import RequestLog, TimedAdapter, public_url

if TYPE_CHECKING:
    from requests.sessions import _Settings

DEFAULT_HTTP_TIMEOUT_SECONDS = 5.0
TIMEOUT_ENV = "SYNTHETIC_HTTP_TIMEOUT"
PHASE_ATTRIBUTES = tuple(f"synthetic.http.{phase}_seconds" for phase in PHASES)
_merge_setting: Callable[[Any, Any], Any] = merge_setting  # requests' own rule: the request's, else the session's
MAX_PROXY_ORIGINS = 64  # the environment's proxies remembered per (scheme, host) a session calls


class TracedSession(requests.Session):
    """A session that gives every request a timeout unless the call names its own, traces and times it."""

    def __init__(self, timeout_seconds: float, log: RequestLog | None = None) -> None:
        self.log = RequestLog() if log is None else log
        super().__init__()  # mounts requests' adapters, timed by mount() below
        self.timeout_seconds = timeout_seconds

    def mount(self, prefix: str | bytes, adapter: BaseAdapter) -> None:
        """``adapter`` for URLs that start with ``prefix``; requests' own ``HTTPAdapter`` (a journey's retries or
        pool sizes) is timed all the same. A subclass of another library is mounted as it is, untimed."""
        if type(adapter) is HTTPAdapter:
            adapter = TimedAdapter.adopt(adapter, self.log)
        super().mount(prefix, adapter)

    def merge_environment_settings(
        self, url: str | bytes | None, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> _Settings:
        """requests' own, but the environment's proxies for a scheme and host are read once while the environment
        stays the same: requests reads and lowercases every variable twice a request (0.15 ms of CPU)."""
        if not self.trust_env or proxies is None or not isinstance(url, str):
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        for scheme, proxy in _ENVIRON_PROXIES.get(url, proxies.get("no_proxy")).items():
            proxies.setdefault(scheme, proxy)
        if verify is True or verify is None:  # as requests, compatible with cURL
            verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or verify
        return {
            "proxies": _merge_setting(proxies, self.proxies),
            "stream": _merge_setting(stream, self.stream),
            "verify": _merge_setting(verify, self.verify),
            "cert": _merge_setting(cert, self.cert),
        }

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        """The request, in a client span of the journey's trace whose ``traceparent`` it carries."""
        kwargs.setdefault("timeout", self.timeout_seconds)
        verb = (method.decode() if isinstance(method, bytes) else str(method)).upper()
        address = public_url(url)
        with tracing.span(f"{verb} {_path(address)}", SpanKind.CLIENT) as span:
            span.set_attribute("http.request.method", verb)
            span.set_attribute("url.full", address)
            kwargs["headers"] = headers = dict(kwargs.get("headers") or {})
            tracing.inject(headers)
            call, token = phases.call_starts()
            try:
                response = super().request(method, url, *args, **kwargs)
            finally:
                phases.call_ends(call, token)
                if span.is_recording():  # spans that are exported
                    _phase_attributes(span, len(call.hops), call.phases())
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 400:
                span.set_status(Status(StatusCode.ERROR, f"answered {response.status_code}"))
            return response


class _EnvironProxies:
    """The environment's proxies for each (scheme, host, no_proxy), read again whenever the environment changed."""

    def __init__(self) -> None:
        self._environ: dict[Any, Any] | None = None  # the variables the proxies below were read from
        self._found: dict[tuple[str, str, str | None], dict[str, str]] = {}

    def get(self, url: str, no_proxy: str | None) -> dict[str, str]:
        environ = getattr(os.environ, "_data", None)  # the raw variables: comparing them costs a microsecond
        known = self._found
        if environ is None or environ != self._environ or len(known) >= MAX_PROXY_ORIGINS:
            known = {}  # a new table: what another thread reads from the old environment never lands in it
            self._environ, self._found = (dict(environ) if environ is not None else None), known
        scheme, netloc = urlsplit(url)[:2]
        key = (scheme, netloc, no_proxy)
        found = known.get(key)
        if found is None:
            found = known[key] = get_environ_proxies(url, no_proxy=no_proxy)
        return found


_ENVIRON_PROXIES = _EnvironProxies()  # one per process: every journey's session asks it


def _path(address: str) -> str:
    return urlsplit(address).path or "/"


def _phase_attributes(span: Any, requests_made: int, summed: tuple[float, ...]) -> None:
    """The call's phases (every hop of its redirects summed) as attributes of its span."""
    span.set_attribute("synthetic.http.requests", requests_made)
    for name, seconds in zip(PHASE_ATTRIBUTES, summed, strict=True):
        span.set_attribute(name, round(seconds, 6))


def http_timeout_seconds(env: dict[str, str] | os._Environ[str] = os.environ) -> float:
    """The default request timeout from ``SYNTHETIC_HTTP_TIMEOUT``; a bad value names the variable."""
    text = env.get(TIMEOUT_ENV, "")
    if not text:
        return DEFAULT_HTTP_TIMEOUT_SECONDS
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise pytest.UsageError(f"{TIMEOUT_ENV} must be a positive number of seconds, got {text!r}")
    return value


@functools.cache  # importlib.metadata reads every installed distribution's metadata: 0.67 ms a call
def user_agent() -> str:
    """``synthetic-monitor/VERSION``: how the service tells the monitor's requests from its users'."""
    try:
        version = metadata.version("synthetic-monitor")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return f"synthetic-monitor/{version}"
