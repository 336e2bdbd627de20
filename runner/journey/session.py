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
from importlib import metadata
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from opentelemetry.trace import SpanKind, Status, StatusCode
from requests.adapters import BaseAdapter, HTTPAdapter

from runner.handoff.observations import PHASES
from runner.journey import phases, tracing
from runner.journey.phases import RequestLog, TimedAdapter, public_url

DEFAULT_HTTP_TIMEOUT_SECONDS = 5.0
TIMEOUT_ENV = "SYNTHETIC_HTTP_TIMEOUT"
PHASE_ATTRIBUTES = tuple(f"synthetic.http.{phase}_seconds" for phase in PHASES)


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
